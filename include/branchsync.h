/*
 * branchsync.h - public API of the branchsync agent library.
 *
 * A native application embeds the agent through these headers only;
 * every type is opaque and every function is prefixed bs_.
 */
#ifndef BRANCHSYNC_H
#define BRANCHSYNC_H

#include "branchsync/error.h"
#include "branchsync/store.h"

#define BS_VERSION "0.1.0"

#endif
