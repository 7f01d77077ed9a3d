/* error.c — the per-thread error message buffer (see error.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[SN_ERRMSG_MAX];

int sn_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return SN_ERR;
}

int sn_errprefix(const char *fmt, ...) {
    char prefix[SN_ERRMSG_MAX], old[SN_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, errbuf, sizeof old);
    size_t np = strlen(prefix), no = strlen(old);
    if (np > sizeof errbuf - 1) np = sizeof errbuf - 1;
    if (no > sizeof errbuf - 1 - np) no = sizeof errbuf - 1 - np;
    memcpy(errbuf, prefix, np);
    memcpy(errbuf + np, old, no);
    errbuf[np + no] = '\0';
    return SN_ERR;
}

const char *sn_errmsg(void) { return errbuf[0] ? errbuf : "unknown error"; }

void sn_errclear(void) { errbuf[0] = '\0'; }
