#ifndef RTCGATE_COPENSSL_SHIM_H
#define RTCGATE_COPENSSL_SHIM_H
// The libcrypto and libssl entry points rtcgate uses: HMAC-SHA1/SHA-256 (MESSAGE-INTEGRITY,
// TURN REST credentials, stateless nonces), MD5/SHA-256 digests (long-term keys, USERHASH),
// the CSPRNG (transaction ids, secrets), and TLS for TURN over TLS (server and bench client).
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/md5.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

// Function-like macros Swift cannot import.
static inline int rtcgate_ssl_ctx_set_min_proto(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
static inline int rtcgate_ssl_ctx_set_max_proto(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
/// No renegotiation, no compression (TLS 1.2; TLS 1.3 has neither); a peer closing without
/// close_notify is an ordinary close; read ahead (one read per batch of records, not two per record).
static inline void rtcgate_ssl_ctx_harden(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_read_ahead(ctx, 1);
}
static inline int rtcgate_x509_name_print(BIO *bio, const X509_NAME *name) {
    return X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253);
}
static inline long rtcgate_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long rtcgate_ssl_ctx_set_session_cache_off(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}
static inline int rtcgate_ssl_ctx_set_groups(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
static inline int rtcgate_ssl_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int rtcgate_ssl_ctx_get0_chain_count(SSL_CTX *ctx) {
    STACK_OF(X509) *chain = NULL;
    if (!SSL_CTX_get0_chain_certs(ctx, &chain) || chain == NULL) return 0;
    return sk_X509_num(chain);
}
/// Calls `cb` for every record header read or written (and every protocol message).
static inline void rtcgate_ssl_set_msg_callback(SSL *ssl, void (*cb)(int, int, int, const void *, size_t, SSL *, void *)) {
    SSL_set_msg_callback(ssl, cb);
}
#endif
