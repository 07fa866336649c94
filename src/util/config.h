/* Configuration: one table of options (section, key, type, default, bounds,
 * flags) read by the INI parser, the environment overrides, `--help`, the
 * example config and the edge tests. Precedence: default < file < env. */
#ifndef SSOGATE_UTIL_CONFIG_H
#define SSOGATE_UTIL_CONFIG_H

#include <stdio.h>

#include "util/err.h"

enum ratelimit_class {
    RL_NONE = 0,
    RL_LOGIN,    /* sign-in start: /login, POST / */
    RL_ACS,      /* SAML assertion consumer */
    RL_APIKEY,   /* failed API-key checks */
    RL_CLASSES,
};

#define CONFIG_MAX_ROUTES 256

/* [route.NAME]: host + path prefix -> workspace and required permission. */
struct config_route {
    char *name;
    char *host;          /* "" = any host */
    char *path_prefix;   /* normalized, starts with '/' */
    char *workspace;     /* ORG/WORKSPACE */
    char *permission;
    int api;             /* 1: unauthenticated callers get 401, never a redirect */
    int envoy_redirect;  /* envoy dialect: 302 browsers to sign-in (else 401) */
};

struct config {
    /* [server] */
    char *listen;             /* host:port */
    char *base_url;           /* public scheme://host[:port] */
    int workers;              /* 0 = number of cores */
    int max_header_bytes;
    int max_body_bytes;
    int request_timeout_s;
    int idle_timeout_s;
    int connection_limit;
    int keepalive_requests;   /* requests per connection, then close; 0 = no limit */
    int shutdown_timeout_s;
    char *trusted_proxies;    /* CIDR list */
    char *allowed_redirect_hosts;
    int dev_plain_http;       /* loopback development without TLS */
    /* [redis] */
    char *redis_url;
    char *redis_password;
    char *redis_sentinels;
    char *redis_master_name;
    char *redis_sentinel_password;
    int redis_connect_timeout_ms;
    int redis_command_timeout_ms;
    int redis_reconnect_max_backoff_ms;
    /* [log] */
    char *log_level;
    char *cpu_affinity;       /* "auto" or "off" ([server]) */
    /* [ratelimit]: per client address, tokens per minute and burst */
    int rl_per_minute[RL_CLASSES];
    int rl_burst[RL_CLASSES];
    int rl_max_clients;
    /* [saml] */
    char *sp_key;
    char *sp_cert;
    char *sp_next_key;
    char *sp_next_cert;
    int saml_request_ttl_s;
    int saml_clock_skew_s;
    int saml_max_response_bytes;
    int saml_metadata_refresh_s;
    int saml_metadata_timeout_ms;
    int saml_cert_warn_days;
    /* [session] */
    char *session_keys;       /* file with "kid secret" lines */
    char *cookie_name;
    char *cookie_domain;
    int session_max_age_s;
    int session_idle_timeout_s;
    int session_idle_refresh_s;
    int session_cache_ttl_ms;
    /* [gate] */
    char *default_route;
    char *header_user;
    char *header_email;
    char *header_org;
    char *header_workspace;
    char *header_role;
    char *header_org_role;
    char *identity_jwt_header;   /* "" = no signed identity header */
    char *identity_jwt_key;      /* PEM private key file */
    int identity_jwt_ttl_s;
    char *identity_jwt_extra_keys; /* comma-separated PEM files, published only */
    /* [route.NAME] sections */
    struct config_route routes[CONFIG_MAX_ROUTES];
    int nroutes;
    /* [dns] */
    char *dns_resolvers;      /* "127.0.0.1:5353,[::1]:53"; "" = system */
    int dns_timeout_ms;
    int dns_recheck_interval_s;
    int dns_recheck_grace;
    /* [org] */
    int org_audit_max_entries;
    int org_invitation_ttl_s;

    /* derived */
    char listen_host[256];
    int listen_port;
    int base_url_https;
    char *path;               /* the file read, for messages */
};

/* Defaults, then the file (path may be NULL: defaults + env only), then the
 * environment. On error returns -1 with e->msg naming file:line (or the env
 * variable) and the reason. */
int config_load(struct config *c, const char *path, struct err *e);
void config_free(struct config *c);
/* Write the documented example configuration (every option, its default). */
void config_write_example(FILE *f);
/* The environment variable that overrides [section] key. */
void config_env_name(const char *section, const char *key, char *out, size_t n);

#endif
