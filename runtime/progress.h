/* progress.h — progress reports on a stream (stderr): a redrawn bar with
 * rate and ETA on a terminal, a few plain lines otherwise, nothing when
 * quiet. No Lua here: lua/l_progress.c binds it as sanity.progress{}, and
 * `sanity sweep` uses it for its bar.
 *
 *   Progress p;
 *   progress_start(&p, "mprt", 40, progress_mode(quiet), stderr);
 *   for (...) { work(); progress_advance(&p, 1); }
 *   progress_done(&p);
 *
 * Bar mode redraws one line ("mprt [#####.....] 20/40 2.5/s ETA 8s") at most
 * ten times a second. Lines mode writes a line each time another tenth of
 * the total is done, or after a unit when the last line is 10 s old (slow
 * units then get a line each), and a final line from progress_done. */
#ifndef SANITY_PROGRESS_H
#define SANITY_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum ProgressMode { PROGRESS_AUTO, PROGRESS_BAR, PROGRESS_LINES, PROGRESS_OFF } ProgressMode;

typedef struct Progress {
    char label[64];
    int64_t total, done;
    ProgressMode mode; /* never AUTO after progress_start */
    FILE *out;
    double start, last_draw; /* monotonic seconds */
    int last_tenth;          /* lines mode: tenths reported so far */
    int drawn;               /* bar mode: a bar is on the current line */
    int finished;
} Progress;

/* The mode for a process: OFF when quiet, else $SANITY_PROGRESS ("bar",
 * "lines", "off") when set, else AUTO (a bar on a terminal, lines otherwise). */
ProgressMode progress_mode(int quiet);

/* total >= 0; label is truncated to 63 bytes. AUTO picks BAR when `out` is a
 * terminal (and $TERM is not "dumb"), else LINES. */
void progress_start(Progress *p, const char *label, int64_t total, ProgressMode mode, FILE *out);
/* Adds k (>= 0) units and reports if it is time to. */
void progress_advance(Progress *p, int64_t k);
/* Final report ("mprt: 40/40 in 16s, 2.5/s"); later calls do nothing. */
void progress_done(Progress *p);
/* Bar mode: erases the bar so the caller can print a line; the next
 * advance redraws it. Other modes: nothing. */
void progress_clear(Progress *p);

/* The report text at time `now` (no newline): the bar in BAR mode, the
 * plain line otherwise. Exposed for tests. */
void progress_format(const Progress *p, double now, char *buf, size_t n);
/* "8s", "3m04s", "2h05m" */
void progress_duration(double seconds, char *buf, size_t n);
/* Monotonic seconds. */
double progress_now(void);

#endif
