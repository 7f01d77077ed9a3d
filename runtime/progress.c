/* progress.c — progress bars and lines (see progress.h). Writes only to the
 * stream it is given; decides nothing about quietness (the caller passes
 * the mode). Rate and ETA come from the mean time per unit so far. */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 24
#define REDRAW_EVERY 0.1 /* s, bar mode */
#define SLOW_LINE 10.0   /* s, lines mode: a unit after this long gets a line */

double progress_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void progress_duration(double s, char *buf, size_t n) {
    if (!(s >= 0)) s = 0;
    long t = (long)(s + 0.5);
    if (t < 60)
        snprintf(buf, n, "%lds", t);
    else if (t < 3600)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
}

ProgressMode progress_mode(int quiet) {
    if (quiet) return PROGRESS_OFF;
    const char *e = getenv("SANITY_PROGRESS");
    if (e && strcmp(e, "bar") == 0) return PROGRESS_BAR;
    if (e && strcmp(e, "lines") == 0) return PROGRESS_LINES;
    if (e && strcmp(e, "off") == 0) return PROGRESS_OFF;
    return PROGRESS_AUTO;
}

void progress_start(Progress *p, const char *label, int64_t total, ProgressMode mode, FILE *out) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label && *label ? label : "progress");
    p->total = total > 0 ? total : 0;
    p->out = out ? out : stderr;
    if (mode == PROGRESS_AUTO) {
        const char *term = getenv("TERM");
        mode = isatty(fileno(p->out)) && !(term && strcmp(term, "dumb") == 0) ? PROGRESS_BAR : PROGRESS_LINES;
    }
    p->mode = mode;
    p->start = p->last_draw = progress_now();
}

static void rate_str(double rate, char *buf, size_t n) {
    if (rate >= 10)
        snprintf(buf, n, "%.0f/s", rate);
    else if (rate >= 0.1)
        snprintf(buf, n, "%.2g/s", rate);
    else if (rate > 0)
        snprintf(buf, n, "%.0fs each", 1 / rate);
    else
        snprintf(buf, n, "-");
}

void progress_format(const Progress *p, double now, char *buf, size_t n) {
    double el = now - p->start;
    int64_t done = p->done < p->total ? p->done : p->total;
    double rate = el > 0 && p->done > 0 ? (double)p->done / el : 0;
    char r[32], eta[32], elapsed[32];
    rate_str(rate, r, sizeof r);
    progress_duration(el, elapsed, sizeof elapsed);
    if (rate > 0)
        progress_duration((double)(p->total - done) / rate, eta, sizeof eta);
    else
        snprintf(eta, sizeof eta, "?");
    int pct = p->total ? (int)(100 * done / p->total) : 100;
    if (p->finished) {
        snprintf(buf, n, "%s: %lld/%lld in %s, %s", p->label, (long long)p->done, (long long)p->total, elapsed, r);
    } else if (p->mode == PROGRESS_BAR) {
        char bar[BAR_WIDTH + 1];
        int fill = p->total ? (int)(BAR_WIDTH * done / p->total) : BAR_WIDTH;
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        snprintf(buf, n, "%s [%s] %lld/%lld %3d%%  %s  ETA %s", p->label, bar, (long long)done, (long long)p->total,
                 pct, r, eta);
    } else {
        snprintf(buf, n, "%s: %lld/%lld (%d%%) %s, ETA %s", p->label, (long long)done, (long long)p->total, pct, r,
                 eta);
    }
}

static void draw(Progress *p, double now) {
    char line[256];
    progress_format(p, now, line, sizeof line);
    if (p->mode == PROGRESS_BAR) {
        fprintf(p->out, "\r\033[K%s", line);
        p->drawn = 1;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
    p->last_draw = now;
}

void progress_advance(Progress *p, int64_t k) {
    if (p->finished || k < 0) return;
    p->done += k;
    if (p->mode == PROGRESS_OFF) return;
    double now = progress_now();
    if (p->mode == PROGRESS_BAR) {
        if (now - p->last_draw >= REDRAW_EVERY || !p->drawn || p->done >= p->total) draw(p, now);
        return;
    }
    int tenth = p->total ? (int)(10 * (p->done < p->total ? p->done : p->total) / p->total) : 10;
    if (tenth > p->last_tenth || now - p->last_draw >= SLOW_LINE) {
        p->last_tenth = tenth;
        if (p->done < p->total) draw(p, now); /* the last one is progress_done's */
    }
}

void progress_clear(Progress *p) {
    if (p->mode != PROGRESS_BAR || !p->drawn) return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->drawn = 0;
}

void progress_done(Progress *p) {
    if (p->finished) return;
    p->finished = 1;
    if (p->mode == PROGRESS_OFF) return;
    progress_clear(p);
    char line[256];
    progress_format(p, progress_now(), line, sizeof line);
    fprintf(p->out, "%s\n", line);
    fflush(p->out);
}
