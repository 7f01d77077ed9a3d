/* interrupt.c — the SIGINT/SIGTERM flag (see interrupt.h). The handler only
 * stores the signal number: everything else happens where the flag is polled. */
#include "interrupt.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t received; /* the one global: see interrupt.h */

static void on_signal(int sig) {
    received = sig;
}

void interrupt_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: sleeps and waits return on a signal */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int interrupt_signal(void) {
    return (int)received;
}

const char *interrupt_name(int sig) {
    if (sig == SIGINT) return "SIGINT";
    if (sig == SIGTERM) return "SIGTERM";
    return "a signal";
}

int interrupt_status(int sig) {
    return 128 + sig;
}
