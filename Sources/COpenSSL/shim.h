#ifndef RTCGATE_COPENSSL_SHIM_H
#define RTCGATE_COPENSSL_SHIM_H
// The few libcrypto entry points rtcgate uses: HMAC-SHA1/SHA-256 (MESSAGE-INTEGRITY,
// TURN REST credentials, stateless nonces), MD5/SHA-256 digests (long-term keys, USERHASH)
// and the CSPRNG (transaction ids, secrets).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/md5.h>
#endif
