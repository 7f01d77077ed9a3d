/* interrupt.h — SIGINT/SIGTERM as a flag that long work polls.
 * main.c installs the handlers; the Lua host checks the flag from a count
 * hook and raises "interrupted by SIGINT" at the next safe point; `sanity
 * sweep` forwards the signal to its children. The flag is process-wide
 * state by necessity: a signal handler can reach nothing else. */
#ifndef SANITY_INTERRUPT_H
#define SANITY_INTERRUPT_H

/* Installs handlers for SIGINT and SIGTERM (without SA_RESTART, so blocking
 * calls such as nanosleep and waitpid return early with EINTR). Repeated
 * signals only set the flag again: `sweep` forwards a terminal's Ctrl-C to
 * children that already got it, and that must not kill them outright. */
void interrupt_install(void);

/* 0, or the number of the last SIGINT/SIGTERM received. */
int interrupt_signal(void);

/* "SIGINT", "SIGTERM", else "a signal" (static storage). */
const char *interrupt_name(int sig);

/* The exit status for a process stopped by `sig`: 128 + sig, as shells report. */
int interrupt_status(int sig);

#endif
