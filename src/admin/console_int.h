/* Shared between console.c (authentication, layout) and console_pages.c
 * (the pages and their form handlers); not for other modules. */
#ifndef SSOGATE_ADMIN_CONSOLE_INT_H
#define SSOGATE_ADMIN_CONSOLE_INT_H

#include "admin/console.h"
#include "util/util.h"

/* One console request: the principal, the page body being built, the error
 * to show above it and a notice. */
struct cctx {
    struct console_principal p;
    struct buf body;
    struct err e;
    const char *notice;
};

const char *console_base(void);
const struct config *console_config(void);
const char *console_cookie(struct http_req *r);
int console_same_origin(struct http_req *r);
/* Load the principal of {org}; writes also check Origin and the form's
 * csrf field. Replies (redirect to /console/login or an error page) on
 * failure. */
int console_begin_or_reply(struct http_req *r, struct cctx *c, int write);
/* Layout around c->body (+ c->e, c->notice) and reply; frees c->body. */
void console_finish(struct http_req *r, struct cctx *c, int status, const char *title, const char *form_targets);
/* 303 to /console/{org}/page?done=notice (a key of the notice table). */
void console_redirect(struct http_req *r, struct cctx *c, const char *page, const char *notice);
void console_notice_from_query(struct http_req *r, struct cctx *c);
/* HTML-escaped text; a POST form to /console/{org}/action with the token. */
void ch(struct buf *b, const char *s);
void console_form_open(struct buf *b, const struct cctx *c, const char *action);

void console_overview(struct http_req *r);
void console_settings_post(struct http_req *r);
void console_sso(struct http_req *r);
void console_sso_post(struct http_req *r);
void console_sso_test_post(struct http_req *r);
void console_sso_test_result(struct http_req *r);
void console_domains(struct http_req *r);
void console_domain_add(struct http_req *r);
void console_domain_verify(struct http_req *r);
void console_domain_remove(struct http_req *r);
void console_members(struct http_req *r);
void console_member_add(struct http_req *r);
void console_member_role(struct http_req *r);
void console_member_remove(struct http_req *r);
void console_service_account_add(struct http_req *r);
void console_invitations(struct http_req *r);
void console_invitation_add(struct http_req *r);
void console_invitation_revoke(struct http_req *r);
void console_workspaces(struct http_req *r);
void console_workspace_add(struct http_req *r);
void console_workspace_grant(struct http_req *r);
void console_workspace_revoke(struct http_req *r);
void console_workspace_default(struct http_req *r);
void console_workspace_delete(struct http_req *r);
void console_workspace_entitlement(struct http_req *r);
void console_role_define(struct http_req *r);
void console_keys(struct http_req *r);
void console_key_add(struct http_req *r);
void console_key_revoke(struct http_req *r);
void console_audit(struct http_req *r);
void console_diagnostics(struct http_req *r);

#endif
