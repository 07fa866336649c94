/* Interoperability: the validator on responses from a real IdP,
 * SimpleSAMLphp (shared/simplesamlphp, copied to a temp dir and started on a
 * free loopback port), signed in with tests/saml/ssp_login.py: one
 * SP-initiated response (InResponseTo set) and one IdP-initiated. The IdP
 * is stopped, by its pid file, as soon as the two responses are saved. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "saml/idp.h"
#include "saml/response.h"
#include "saml/saml.h"
#include "util/err.h"
#include "util/util.h"

#define SP_BASE "http://127.0.0.1:18280"
#define REQ "_ssogate-it-7f3a9c"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        abort();
    close(fd);
    return ntohs(a.sin_port);
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    char dir[] = "/tmp/ssogate-ssp-XXXXXX";
    char cmd[4096];
    const char *fail = NULL;
    if (!mkdtemp(dir))
        abort();
    int port = free_port();
    snprintf(cmd, sizeof cmd, "cp -r %s/../shared/simplesamlphp %s/ssp && rm -rf %s/ssp/work",
             SSOGATE_SOURCE_DIR, dir, dir);
    if (sh(cmd) != 0) {
        fail = "cannot copy shared/simplesamlphp";
        goto done;
    }
    snprintf(cmd, sizeof cmd, "IDP_PORT=%d SP_BASE=" SP_BASE " %s/ssp/start-idp.sh >/dev/null",
             port, dir);
    if (sh(cmd) != 0) {
        fail = "SimpleSAMLphp did not start";
        goto done;
    }
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/saml/ssp_login.py http://127.0.0.1:%d " SP_BASE " "
             REQ " alice@acme.test password %s/sp_init.b64 && "
             "/usr/bin/python3 %s/tests/saml/ssp_login.py http://127.0.0.1:%d " SP_BASE " "
             "- bob@acme.test password %s/idp_init.b64",
             SSOGATE_SOURCE_DIR, port, dir, SSOGATE_SOURCE_DIR, port, dir);
    if (sh(cmd) != 0)
        fail = "signing in at SimpleSAMLphp failed";
    snprintf(cmd, sizeof cmd, "%s/ssp/stop-idp.sh >/dev/null", dir);
    sh(cmd);
done:
    setenv("SSOGATE_SSP_DIR", dir, 1);
    if (fail)
        setenv("SSOGATE_SSP_ERROR", fail, 1);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    const char *dir = getenv("SSOGATE_SSP_DIR");
    if (dir && strncmp(dir, "/tmp/ssogate-ssp-", 17) == 0)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static struct idp *idp;
static struct response_result res;
static struct err err;

static void setup(void)
{
    const char *fail = getenv("SSOGATE_SSP_ERROR");
    cr_assert_null(fail, "%s", fail);
    struct err e;
    cr_assert_eq(saml_init(&e), 0, "%s", e.msg);
    char *path = util_xasprintf("%s/ssp/work/ssp/idp-metadata.xml", getenv("SSOGATE_SSP_DIR"));
    idp = idp_new_from_file(path, &e);
    free(path);
    cr_assert_not_null(idp, "%s", e.msg);
}

static void teardown(void)
{
    response_result_free(&res);
    idp_free(idp);
    saml_shutdown();
}

TestSuite(saml_ssp, .init = setup, .fini = teardown);

static int run(const char *name, const char *request_id, int allow_idp_initiated)
{
    char *path = util_xasprintf("%s/%s", getenv("SSOGATE_SSP_DIR"), name);
    size_t len;
    char *data = util_read_file(path, 1 << 20, &len);
    free(path);
    cr_assert_not_null(data);
    static const char *const domains[] = {"acme.test"};
    struct response_settings s = {
        .idp = idp, .sp_entity_id = SP_BASE "/saml/metadata", .acs_url = SP_BASE "/saml/acs",
        .request_id = request_id, .allow_idp_initiated = allow_idp_initiated,
        .allowed_domains = domains, .n_allowed_domains = 1,
    };
    response_result_free(&res);
    int rc = response_validate(data, len, &s, &res, &err);
    free(data);
    return rc;
}

Test(saml_ssp, accepts_sp_initiated_response_from_simplesamlphp)
{
    cr_assert_eq(run("sp_init.b64", REQ, 0), 0, "%s: %s", err.code, err.msg);
    cr_assert_str_eq(res.email, "alice@acme.test");
    cr_assert_str_eq(res.in_response_to, REQ);
    cr_assert_not_null(res.session_index);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(res.attributes, "uid"), 0)),
                     "alice");
}

Test(saml_ssp, refuses_its_response_for_another_request)
{
    cr_assert_eq(run("sp_init.b64", "_another-request", 0), -1);
    cr_assert_str_eq(err.code, "saml_in_response_to_mismatch");
}

Test(saml_ssp, accepts_idp_initiated_only_when_allowed)
{
    cr_assert_eq(run("idp_init.b64", NULL, 0), -1);
    cr_assert_str_eq(err.code, "saml_unsolicited");
    cr_assert_eq(run("idp_init.b64", NULL, 1), 0, "%s: %s", err.code, err.msg);
    cr_assert_str_eq(res.email, "bob@acme.test");
}

Test(saml_ssp, cli_accepts_it_with_real_clock)
{
    char cmd[4096];
    const char *dir = getenv("SSOGATE_SSP_DIR");
    snprintf(cmd, sizeof cmd,
             "%s verify-response --idp-metadata %s/ssp/work/ssp/idp-metadata.xml "
             "--sp-entity-id " SP_BASE "/saml/metadata --acs-url " SP_BASE "/saml/acs "
             "--request-id " REQ " --allowed-domain acme.test %s/sp_init.b64",
             getenv("SSOGATE_BIN"), dir, dir);
    FILE *p = popen(cmd, "r");
    char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    cr_assert_eq(WEXITSTATUS(pclose(p)), 0, "%s", out);
    cr_assert(strstr(out, "\"email\":\"alice@acme.test\""), "%s", out);
}
