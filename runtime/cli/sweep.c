/* sweep.c — `sanity sweep`: runs a grid of configurations of one script as
 * `sanity run` child processes (fork/exec of this binary), J at a time,
 * optionally only one shard of the grid, each writing DIR/runs/<id>.h5 with
 * its output in DIR/logs/<id>.log. Keeps DIR/sweep.json (cli/manifest.h),
 * reports progress, forwards SIGINT/SIGTERM to the children and exits as
 * they did. The grid and run ids are cli/grid.h's; results are not read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/grid.h"
#include "cli/manifest.h"
#include "error.h"
#include "interrupt.h"
#include "io/provenance.h"
#include "parallel.h"
#include "progress.h"

static const char *sweep_usage =
    "usage: sanity sweep SCRIPT.lua key=spec ... --out DIR [--jobs J] [--shard I/N] [--resume]\n"
    "                    [--dry-run] [--seed N] [--threads N] [--quiet]\n"
    "\n"
    "  key=v1,v2,v3   a list of values          key=start:stop:step   a range (stop included when\n"
    "  key=value      a fixed value                                   it lands on the grid)\n"
    "                 The runs are the cartesian product of the keys; each is\n"
    "                 'sanity run SCRIPT.lua key=value ... --out DIR/runs/<id>.h5'.\n"
    "  --out DIR      where the sweep lives: DIR/sweep.json (the grid), DIR/runs/<id>.h5,\n"
    "                 DIR/logs/<id>.log (each run's stdout and stderr)\n"
    "  --jobs J       runs at once on this machine (default 1)\n"
    "  --shard I/N    only runs whose index % N == I (0 <= I < N); default from\n"
    "                 SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (or _MIN, _MAX, _STEP)\n"
    "  --resume       skip runs whose DIR/runs/<id>.h5 exists; others resume their units\n"
    "  --dry-run      list the runs (index, id, status, configuration) and exit\n"
    "  --seed N       the seed of every run (same as seed=N; sweep seeds with seed=1,2,3)\n"
    "  --threads N    threads per run (default: cores / jobs)\n"
    "  --quiet        no progress output\n"
    "\n"
    "A run's id is a hash of the script's base name and its configuration (every key,\n"
    "seed included). A script may declare its keys in its leading comments with a line\n"
    "'--@keys noise stop_layer method'; other keys are then refused.\n"
    "Exit: 0 all runs done, 1 a run failed (listed with its log), 2 usage error,\n"
    "130/143 stopped by SIGINT/SIGTERM (forwarded to the runs; resume with --resume).\n";

typedef struct SweepOpts {
    const char *script, *dir;
    int jobs, threads, resume, dry_run, quiet;
    int shard_i, shard_n;
    const char *shard_from; /* "--shard", "SLURM_ARRAY_TASK_*" or NULL */
    const char *seed;       /* --seed N as text */
} SweepOpts;

typedef struct Run {
    int64_t index;
    const char *id;
    char *label;
    char log[PATH_MAX];
    char out[PATH_MAX];
    pid_t pid;
    double started;
    int status; /* wait status */
    int state;  /* RUN_* */
} Run;

enum { RUN_PENDING, RUN_RUNNING, RUN_DONE, RUN_FAILED, RUN_STOPPED };

static int usage_error(const char *msg) {
    fprintf(stderr, "sanity sweep: %s\n(see 'sanity sweep --help')\n", msg);
    return 2;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* "I/N" into *i, *n. */
static int parse_shard(const char *s, int *i, int *n, char *err, size_t errn) {
    const char *slash = strchr(s, '/');
    long long a, b;
    char left[32];
    if (!slash || (size_t)(slash - s) >= sizeof left) {
        snprintf(err, errn, "--shard needs I/N with 0 <= I < N (e.g. --shard 0/4), got '%s'", s);
        return -1;
    }
    snprintf(left, sizeof left, "%.*s", (int)(slash - s), s);
    if (parse_int(left, 0, 1000000, &a) || parse_int(slash + 1, 1, 1000000, &b)) {
        snprintf(err, errn, "--shard needs I/N with 0 <= I < N (e.g. --shard 0/4), got '%s'", s);
        return -1;
    }
    if (a >= b) {
        snprintf(err, errn, "--shard %s: the shard index must be in 0..%lld (shards are numbered from 0)", s, b - 1);
        return -1;
    }
    *i = (int)a;
    *n = (int)b;
    return 0;
}

/* The shard from Slurm's job-array variables, when set. */
static int slurm_shard(SweepOpts *o, char *err, size_t errn) {
    const char *id = getenv("SLURM_ARRAY_TASK_ID");
    if (!id || !*id) return 0;
    const char *count = getenv("SLURM_ARRAY_TASK_COUNT"), *max = getenv("SLURM_ARRAY_TASK_MAX"),
               *min = getenv("SLURM_ARRAY_TASK_MIN"), *step = getenv("SLURM_ARRAY_TASK_STEP");
    long long i, n, lo = 0, hi, st = 1;
    if (parse_int(id, 0, 1000000, &i)) {
        snprintf(err, errn, "SLURM_ARRAY_TASK_ID='%s' is not a task number", id);
        return -1;
    }
    if (step && *step && parse_int(step, 1, 1000000, &st) != 0) st = 1;
    if (min && *min && parse_int(min, 0, 1000000, &lo) == 0) i -= lo;
    i /= st; /* --array=0-15:4 gives tasks 0, 4, 8, 12: shards 0..3 */
    if (count && *count && parse_int(count, 1, 1000000, &n) == 0) {
    } else if (max && *max && parse_int(max, 0, 1000000, &hi) == 0) {
        n = (hi - lo) / st + 1;
    } else {
        snprintf(err, errn,
                 "SLURM_ARRAY_TASK_ID is set but neither SLURM_ARRAY_TASK_COUNT nor "
                 "SLURM_ARRAY_TASK_MAX is; give --shard I/N");
        return -1;
    }
    if (i < 0 || i >= n) {
        snprintf(err, errn, "SLURM_ARRAY_TASK_ID=%s is outside the array of %lld tasks (use --array=0-%lld)", id, n,
                 n - 1);
        return -1;
    }
    o->shard_i = (int)i;
    o->shard_n = (int)n;
    o->shard_from = "SLURM_ARRAY_TASK_ID";
    return 0;
}

/* Keys the script declares in its leading comments ("--@keys a b, c"), as
 * one space-separated string; NULL when it declares none. */
static char *declared_keys(const char *script) {
    FILE *fp = fopen(script, "r");
    if (!fp) return NULL;
    char line[4096];
    char *keys = NULL;
    for (int n = 0; fgets(line, sizeof line, fp); n++) {
        if (n == 0 && line[0] == '#' && line[1] == '!') continue;
        if (strspn(line, " \t\r\n") == strlen(line)) continue; /* blank lines inside the header */
        if (strncmp(line, "--", 2) != 0) break;
        if (strncmp(line, "--@keys", 7) != 0) continue;
        keys = strdup(line + 7);
        break;
    }
    fclose(fp);
    if (keys)
        for (char *p = keys; *p; p++)
            if (*p == ',' || *p == '\t' || *p == '\n' || *p == '\r') *p = ' ';
    return keys;
}

static int key_declared(const char *keys, const char *key, size_t len) {
    for (const char *p = keys; *p;) {
        while (*p == ' ') p++;
        size_t l = strcspn(p, " ");
        if (l && l == len && strncmp(p, key, len) == 0) return 1;
        p += l;
    }
    return 0;
}

/* Refuses grid keys the script does not declare, with a suggestion. */
static int check_keys(const Grid *g, const char *script, const char *keys, char *err, size_t errn) {
    for (int i = 0; i < g->nkeys; i++) {
        const char *k = g->keys[i].name;
        size_t first = strcspn(k, ".");
        if (strcmp(k, "seed") == 0 || key_declared(keys, k, strlen(k)) || key_declared(keys, k, first)) continue;
        char best[128] = "";
        int bestd = 1000;
        for (const char *p = keys; *p;) {
            while (*p == ' ') p++;
            size_t l = strcspn(p, " ");
            if (l && l < sizeof best) {
                char cand[128];
                snprintf(cand, sizeof cand, "%.*s", (int)l, p);
                int d = grid_distance(k, cand);
                if (strncmp(cand, k, strlen(k)) == 0) d = 1; /* a prefix: "stop" for "stop_layer" */
                if (d < bestd) bestd = d, snprintf(best, sizeof best, "%s", cand);
            }
            p += l;
        }
        char list[512];
        snprintf(list, sizeof list, "%s", keys);
        size_t ll = strlen(list);
        while (ll && list[ll - 1] == ' ') list[--ll] = '\0';
        char *lp = list;
        while (*lp == ' ') lp++;
        int close_enough = bestd <= (strlen(k) >= 4 ? 2 : 1);
        snprintf(err, errn, "unknown key '%s': %s declares only %s (--@keys)%s%s%s", k, script, lp,
                 close_enough ? "; did you mean '" : "", close_enough ? best : "", close_enough ? "'?" : "");
        return -1;
    }
    return 0;
}

/* mkdir -p; SN_ERR naming the component that failed. */
static int make_dirs(const char *dir) {
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return sn_errorf("'%s' is too long", dir);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (stat(buf, &st) != 0) {
            if (mkdir(buf, 0777) != 0) {
                if (strcmp(buf, dir) == 0)
                    return sn_errorf("cannot create the sweep directory '%s': %s", dir, strerror(errno));
                return sn_errorf("cannot create the sweep directory '%s': '%s': %s", dir, buf, strerror(errno));
            }
        } else if (!S_ISDIR(st.st_mode)) {
            return sn_errorf("cannot use '%s' as the sweep directory: '%s' is not a directory", dir, buf);
        }
        *p = c;
        if (!c) break;
    }
    return SN_OK;
}

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static const char *run_status(const char *dir, const char *id) {
    char p[PATH_MAX];
    if (manifest_path(dir, "runs", id, ".h5", p, sizeof p) == SN_OK && file_exists(p)) return "done";
    if (manifest_path(dir, "runs", id, ".h5.partial", p, sizeof p) == SN_OK && file_exists(p)) return "partial";
    if (manifest_path(dir, "runs", id, ".h5.units", p, sizeof p) == SN_OK && file_exists(p)) return "partial";
    return "pending";
}

static double now_s(void) {
    return progress_now();
}

/* Starts one child: argv = sanity run SCRIPT args... --out F --threads T [--resume]. */
static int start_run(const SweepOpts *o, const Manifest *m, const char *exe, Run *run) {
    const Grid *g = &m->grid;
    int idx[GRID_MAX_KEYS];
    grid_run(g, run->index, idx);
    int argc = 0;
    char **argv = calloc((size_t)g->nkeys + 12, sizeof *argv);
    char threads[16];
    snprintf(threads, sizeof threads, "%d", o->threads);
    if (!argv) return sn_errorf("out of memory starting run %s", run->id);
    argv[argc++] = "sanity";
    argv[argc++] = "run";
    argv[argc++] = (char *)o->script;
    int first_arg = argc;
    for (int i = 0; i < g->nkeys; i++) {
        const char *k = g->keys[i].name, *v = g->keys[i].values[idx[i]].text;
        char *a = malloc(strlen(k) + strlen(v) + 2);
        if (a) sprintf(a, "%s=%s", k, v);
        argv[argc++] = a;
    }
    int last_arg = argc;
    argv[argc++] = "--out";
    argv[argc++] = run->out;
    argv[argc++] = "--threads";
    argv[argc++] = threads;
    if (o->resume) argv[argc++] = "--resume";
    argv[argc] = NULL;
    int ok = 1;
    for (int i = first_arg; i < last_arg; i++) ok = ok && argv[i];

    int fd = ok ? open(run->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666) : -1;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = SN_OK;
    if (!ok) {
        rc = sn_errorf("out of memory starting run %s", run->id);
    } else if (fd < 0) {
        rc = sn_errorf("cannot open log %s: %s", run->log, strerror(errno));
    } else {
        char utc[32], *cmd = provenance_shell_join(argc, argv);
        struct timeval tv;
        gettimeofday(&tv, NULL);
        provenance_utc((double)tv.tv_sec, utc);
        dprintf(fd, "=== %s sanity sweep: run %lld (%s)\n=== %s\n", utc, (long long)run->index, run->id,
                cmd ? cmd : "");
        free(cmd);
        fflush(stderr);
        pid_t pid = fork();
        if (pid == 0) { /* child: only async-signal-safe calls until exec */
            dup2(fd, 1);
            dup2(fd, 2);
            if (devnull >= 0) dup2(devnull, 0);
            execv(exe, argv);
            static const char msg[] = "sanity sweep: cannot execute the sanity binary\n";
            ssize_t w = write(2, msg, sizeof msg - 1);
            (void)w;
            _exit(127);
        }
        if (pid < 0) {
            rc = sn_errorf("cannot start run %s: fork: %s", run->id, strerror(errno));
        } else {
            run->pid = pid;
            run->state = RUN_RUNNING;
            run->started = now_s();
        }
    }
    if (fd >= 0) close(fd);
    if (devnull >= 0) close(devnull);
    for (int i = first_arg; i < last_arg; i++) free(argv[i]);
    free(argv);
    return rc;
}

static void describe_exit(const Run *r, char *buf, size_t n) {
    if (WIFEXITED(r->status))
        snprintf(buf, n, "exit %d", WEXITSTATUS(r->status));
    else if (WIFSIGNALED(r->status))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(r->status));
    else
        snprintf(buf, n, "status %d", r->status);
}

/* Runs `todo` (n runs), at most o->jobs at once. Returns 0, or the signal
 * that stopped the sweep. */
static int run_all(const SweepOpts *o, const Manifest *m, const char *exe, Run *todo, int n, int *nfailed) {
    Progress bar;
    ProgressMode mode = progress_mode(o->quiet);
    progress_start(&bar, "sweep", n, mode, stderr);
    int next = 0, running = 0, finished = 0, forwarded = 0;
    *nfailed = 0;
    while (next < n || running > 0) {
        int sig = interrupt_signal();
        if (sig && !forwarded) {
            for (int i = 0; i < n; i++)
                if (todo[i].state == RUN_RUNNING) kill(todo[i].pid, sig);
            forwarded = 1;
        }
        while (!sig && running < o->jobs && next < n) {
            Run *r = &todo[next++];
            if (start_run(o, m, exe, r) == SN_OK) {
                running++;
                continue;
            }
            r->state = RUN_FAILED;
            (*nfailed)++;
            finished++;
            progress_clear(&bar);
            fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
            progress_advance(&bar, 1);
        }
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            Run *r = NULL;
            for (int i = 0; i < n && !r; i++)
                if (todo[i].state == RUN_RUNNING && todo[i].pid == pid) r = &todo[i];
            if (!r) continue;
            running--;
            finished++;
            r->status = status;
            double secs = now_s() - r->started;
            int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            char what[PATH_MAX + 256];
            if (code == 0 && file_exists(r->out)) {
                r->state = RUN_DONE;
                snprintf(what, sizeof what, "done in %.1f s", secs);
            } else if (sig && (code == interrupt_status(SIGINT) || code == interrupt_status(SIGTERM))) {
                r->state = RUN_STOPPED;
                snprintf(what, sizeof what, "stopped after %.1f s (partial results kept)", secs);
            } else {
                r->state = RUN_FAILED;
                (*nfailed)++;
                char how[64];
                describe_exit(r, how, sizeof how);
                if (code == 0)
                    snprintf(what, sizeof what,
                             "FAILED: exited 0 but wrote no %s (does the script call results.open()?)", r->out);
                else
                    snprintf(what, sizeof what, "FAILED (%s) after %.1f s, log %s", how, secs, r->log);
            }
            if (bar.mode == PROGRESS_LINES || (bar.mode == PROGRESS_BAR && r->state != RUN_DONE)) {
                progress_clear(&bar);
                fprintf(stderr, "run %d/%d %s %s: %s\n", finished, n, r->id, r->label, what);
            }
            if (bar.mode == PROGRESS_BAR) progress_advance(&bar, 1);
            continue;
        }
        if (pid < 0 && errno == ECHILD) break;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL); /* a signal cuts it short */
        if (bar.mode == PROGRESS_BAR) progress_advance(&bar, 0);
    }
    if (bar.mode == PROGRESS_BAR) {
        progress_clear(&bar);
        bar.finished = 1;
    }
    return interrupt_signal();
}

/* The manifest in `dir` describes another sweep (why: manifest_same's reason). */
static void different_sweep(const char *dir, const char *why) {
    fprintf(stderr, "sanity sweep: %s holds a different sweep (manifest grid differs: %s); use another --out\n", dir,
            why);
}

static void print_table(const SweepOpts *o, const Manifest *m, const int64_t *mine, int nmine) {
    printf("sweep of %s: %lld run%s", m->script_name, (long long)m->grid.nruns, m->grid.nruns == 1 ? "" : "s");
    for (int i = 0; i < m->grid.nkeys; i++)
        printf("%s%s: %d", i ? ", " : " (", m->grid.keys[i].name, m->grid.keys[i].n);
    printf("%s", m->grid.nkeys ? " values)" : "");
    if (o->shard_n > 1) printf("; shard %d/%d: %d runs", o->shard_i, o->shard_n, nmine);
    printf("\n%-6s %-12s %-8s %s\n", "index", "id", "status", "configuration");
    for (int k = 0; k < nmine; k++) {
        int64_t r = mine[k];
        char *json = grid_config_json(&m->grid, r);
        printf("%-6lld %-12s %-8s %s\n", (long long)r, m->ids[r], run_status(o->dir, m->ids[r]), json ? json : "");
        free(json);
    }
}

int cli_sweep(int argc, char **argv) {
    if (argc >= 1 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        fputs(sweep_usage, stdout);
        return 0;
    }
    if (argc < 1 || argv[0][0] == '-')
        return usage_error("needs a script: sanity sweep SCRIPT.lua key=spec ... --out DIR");
    SweepOpts o = {.script = argv[0], .jobs = 1};
    Grid grid = {0};
    int threads_given = 0, status = 2;
    char err[1024];
    Manifest m = {0};
    int64_t *mine = NULL;
    Run *todo = NULL;
    int ntodo = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "--out") == 0 || strcmp(a, "--jobs") == 0 || strcmp(a, "--shard") == 0 ||
            strcmp(a, "--seed") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "-o") == 0) {
            if (i + 1 >= argc) {
                snprintf(err, sizeof err, "%s needs a value", a);
                goto usage;
            }
            const char *val = argv[++i];
            if (strcmp(a, "--out") == 0 || strcmp(a, "-o") == 0) {
                o.dir = val;
            } else if (strcmp(a, "--jobs") == 0) {
                if (parse_int(val, 1, 1024, &v)) {
                    snprintf(err, sizeof err, "--jobs needs an integer in 1..1024, got '%s'", val);
                    goto usage;
                }
                o.jobs = (int)v;
            } else if (strcmp(a, "--shard") == 0) {
                if (parse_shard(val, &o.shard_i, &o.shard_n, err, sizeof err)) goto usage;
                o.shard_from = "--shard";
            } else if (strcmp(a, "--seed") == 0) {
                if (parse_int(val, 0, INT64_MAX, &v)) {
                    snprintf(err, sizeof err, "--seed needs a non-negative integer, got '%s'", val);
                    goto usage;
                }
                o.seed = val;
            } else {
                if (parse_int(val, 1, 256, &v)) {
                    snprintf(err, sizeof err, "--threads needs an integer in 1..256, got '%s'", val);
                    goto usage;
                }
                o.threads = (int)v;
                threads_given = 1;
            }
        } else if (strcmp(a, "--resume") == 0) {
            o.resume = 1;
        } else if (strcmp(a, "--dry-run") == 0 || strcmp(a, "-n") == 0) {
            o.dry_run = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o.quiet = 1;
        } else if (a[0] == '-') {
            snprintf(err, sizeof err, "unknown option '%s'", a);
            goto usage;
        } else if (grid_add(&grid, a) != SN_OK) {
            snprintf(err, sizeof err, "%s", sn_errmsg());
            goto usage;
        }
    }
    if (!o.dir) {
        snprintf(err, sizeof err, "--out DIR is required (the sweep's directory)");
        goto usage;
    }
    if (!o.shard_from && slurm_shard(&o, err, sizeof err)) goto usage;
    if (!o.shard_from) o.shard_i = 0, o.shard_n = 1;
    if (grid_find(&grid, "seed") >= 0 && o.seed) {
        snprintf(err, sizeof err, "--seed and seed= both given; sweep seeds with seed=1,2,3 alone");
        goto usage;
    }
    {
        char seedarg[64];
        snprintf(seedarg, sizeof seedarg, "seed=%s", o.seed ? o.seed : "0");
        if (grid_find(&grid, "seed") < 0 && grid_add(&grid, seedarg) != SN_OK) {
            snprintf(err, sizeof err, "%s", sn_errmsg());
            goto usage;
        }
    }
    if (grid_finish(&grid) != SN_OK) {
        snprintf(err, sizeof err, "%s", sn_errmsg());
        goto usage;
    }
    FILE *probe = fopen(o.script, "r");
    if (!probe) {
        fprintf(stderr, "sanity sweep: cannot open script '%s': %s\n", o.script, strerror(errno));
        goto out;
    }
    fclose(probe);
    char *keys = declared_keys(o.script);
    if (keys) {
        int bad = check_keys(&grid, o.script, keys, err, sizeof err);
        free(keys);
        if (bad) goto usage;
    }
    if (!threads_given) o.threads = parallel_cpu_count() / o.jobs > 1 ? parallel_cpu_count() / o.jobs : 1;
    if (manifest_init(&m, o.script, &grid) != SN_OK) {
        fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
        status = 1;
        goto out;
    }

    /* the manifest on disk, if any, must describe this very sweep */
    Manifest stored;
    struct stat st;
    char mpath[PATH_MAX];
    if (manifest_path(o.dir, NULL, "sweep", ".json", mpath, sizeof mpath) != SN_OK) {
        fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
        goto out;
    }
    if (stat(mpath, &st) == 0) {
        if (manifest_load(&stored, o.dir) != SN_OK) {
            fprintf(stderr, "sanity sweep: %s; use another --out\n", sn_errmsg());
            status = 1;
            goto out;
        }
        char why[1024];
        int same = manifest_same(&stored, &m, why, sizeof why);
        if (same && strcmp(stored.script_sha256, m.script_sha256) != 0 && !o.quiet)
            fprintf(stderr,
                    "sanity sweep: warning: %s changed since the sweep was created (%s); runs already "
                    "complete used the earlier version\n",
                    o.script, stored.created_utc);
        manifest_free(&stored);
        if (!same) {
            different_sweep(o.dir, why);
            status = 1;
            goto out;
        }
    }

    int64_t nmine = 0;
    mine = malloc((size_t)(m.grid.nruns / o.shard_n + 1) * sizeof *mine);
    if (!mine) {
        fprintf(stderr, "sanity sweep: out of memory\n");
        status = 1;
        goto out;
    }
    for (int64_t r = o.shard_i; r < m.grid.nruns; r += o.shard_n) mine[nmine++] = r;
    if (o.dry_run) {
        print_table(&o, &m, mine, (int)nmine);
        status = 0;
        goto out;
    }

    char runs_dir[PATH_MAX], logs_dir[PATH_MAX];
    if (make_dirs(o.dir) != SN_OK || manifest_path(o.dir, NULL, "runs", "", runs_dir, sizeof runs_dir) != SN_OK ||
        manifest_path(o.dir, NULL, "logs", "", logs_dir, sizeof logs_dir) != SN_OK || make_dirs(runs_dir) != SN_OK ||
        make_dirs(logs_dir) != SN_OK) {
        fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
        status = 1;
        goto out;
    }
    int created;
    if (manifest_write(&m, o.dir, &created) != SN_OK) {
        fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
        status = 1;
        goto out;
    }
    if (!created) { /* another shard won the race: check its manifest too */
        char why[1024];
        if (manifest_load(&stored, o.dir) != SN_OK) {
            fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
            status = 1;
            goto out;
        }
        int same = manifest_same(&stored, &m, why, sizeof why);
        manifest_free(&stored);
        if (!same) {
            different_sweep(o.dir, why);
            status = 1;
            goto out;
        }
    }

    todo = calloc((size_t)(nmine ? nmine : 1), sizeof *todo);
    if (!todo) {
        fprintf(stderr, "sanity sweep: out of memory\n");
        status = 1;
        goto out;
    }
    int ndone = 0;
    for (int64_t k = 0; k < nmine; k++) {
        const char *id = m.ids[mine[k]];
        Run *r = &todo[ntodo];
        if (manifest_path(o.dir, "runs", id, ".h5", r->out, sizeof r->out) != SN_OK ||
            manifest_path(o.dir, "logs", id, ".log", r->log, sizeof r->log) != SN_OK) {
            fprintf(stderr, "sanity sweep: %s\n", sn_errmsg());
            status = 1;
            goto out;
        }
        if (file_exists(r->out)) {
            ndone++;
            continue;
        }
        r->index = mine[k];
        r->id = id;
        r->label = manifest_label(&m, mine[k]);
        ntodo++;
    }
    if (ndone && !o.resume) {
        fprintf(stderr,
                "sanity sweep: %d of this shard's %lld runs are already complete in %s/runs; pass --resume to skip "
                "them (or remove %s/runs to start over)\n",
                ndone, (long long)nmine, o.dir, o.dir);
        status = 1;
        goto out;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        fprintf(stderr, "sanity sweep: cannot find the sanity binary (/proc/self/exe): %s\n", strerror(errno));
        status = 1;
        goto out;
    }
    exe[len] = '\0';
    if (!o.quiet) {
        fprintf(stderr, "sweep %s: %lld runs", o.dir, (long long)m.grid.nruns);
        if (o.shard_n > 1)
            fprintf(stderr, ", shard %d/%d (%s): %lld", o.shard_i, o.shard_n, o.shard_from, (long long)nmine);
        if (ndone) fprintf(stderr, ", %d already complete", ndone);
        fprintf(stderr, ", %d to run, %d at a time\n", ntodo, o.jobs);
    }
    interrupt_install();
    double t0 = now_s();
    int nfailed = 0;
    int sig = run_all(&o, &m, exe, todo, ntodo, &nfailed);
    int nok = 0;
    for (int i = 0; i < ntodo; i++) nok += todo[i].state == RUN_DONE;
    if (!o.quiet)
        fprintf(stderr, "sweep %s: %d run%s done, %d failed in %.1f s%s\n", o.dir, nok, nok == 1 ? "" : "s", nfailed,
                now_s() - t0, ndone ? " (others were already complete)" : "");
    if (nfailed) {
        fprintf(stderr, "sanity sweep: %d run%s failed:\n", nfailed, nfailed == 1 ? "" : "s");
        for (int i = 0; i < ntodo; i++) {
            if (todo[i].state != RUN_FAILED) continue;
            char how[64] = "not started";
            if (todo[i].pid) describe_exit(&todo[i], how, sizeof how);
            fprintf(stderr, "  %s %s: %s, log %s\n", todo[i].id, todo[i].label, how, todo[i].log);
        }
    }
    if (sig) {
        int stopped = 0;
        for (int i = 0; i < ntodo; i++) stopped += todo[i].state == RUN_STOPPED;
        fprintf(stderr,
                "sanity sweep: interrupted by %s; %d run%s stopped with partial results; continue with --resume\n",
                interrupt_name(sig), stopped, stopped == 1 ? "" : "s");
        status = interrupt_status(sig);
    } else {
        status = nfailed ? 1 : 0;
    }
    goto out;
usage:
    status = usage_error(err);
out:
    for (int i = 0; todo && i < ntodo; i++) free(todo[i].label);
    free(todo);
    free(mine);
    manifest_free(&m);
    grid_free(&grid);
    return status;
}
