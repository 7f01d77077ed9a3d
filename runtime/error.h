/* error.h — how the numeric core reports failure.
 * A failing function sets a message with sn_errorf() and returns SN_ERR (or
 * NULL); the Lua binding raises that message with the script's file and line.
 * The buffer is per thread, so a worker cannot overwrite its caller's message;
 * parallel_for() copies a worker's message back to the calling thread. */
#ifndef SANITY_ERROR_H
#define SANITY_ERROR_H

#define SN_OK 0
#define SN_ERR (-1)
#define SN_ERRMSG_MAX 1024

/* Formats the message for this thread and returns SN_ERR. */
int sn_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefixes the current message, e.g. with the layer name: "conv2d 'conv1': ". */
int sn_errprefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *sn_errmsg(void);
void sn_errclear(void);

#endif
