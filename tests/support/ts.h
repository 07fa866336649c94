/* Test support for every test that runs real servers (Redis, nginx,
 * dnsmasq, ssogate itself): include this one header. Names start with ts_;
 * failures return -1 or NULL with the reason in ts_last_error(). */
#ifndef SSOGATE_TESTS_SUPPORT_TS_H
#define SSOGATE_TESTS_SUPPORT_TS_H

#include "ts_fs.h"
#include "ts_net.h"
#include "ts_proc.h"
#include "ts_redis.h"
#include "ts_util.h"

#endif
