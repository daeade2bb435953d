/*
 * cpu_x86.c - CPU features on x86-64: AES-NI, as mbedTLS detects it, so
 * the store uses AES-256-GCM exactly when mbedTLS accelerates it.
 */
#include <mbedtls/aesni.h>

#include "../os.h"

int bs_os_cpu_has_aes(void)
{
#if defined(MBEDTLS_AESNI_C) && defined(MBEDTLS_HAVE_X86_64)
	return mbedtls_aesni_has_support(MBEDTLS_AESNI_AES) &&
	       mbedtls_aesni_has_support(MBEDTLS_AESNI_CLMUL);
#else
	return 0;
#endif
}
