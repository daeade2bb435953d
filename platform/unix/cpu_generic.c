/*
 * cpu_generic.c - CPU features where the crypto library has no hardware
 * AES path (mbedTLS 2.28 on ARM): AES would be table-based, slow and
 * leaky in timing, so the store uses ChaCha20-Poly1305 instead.
 */
#include "../os.h"

int bs_os_cpu_has_aes(void)
{
	return 0;
}
