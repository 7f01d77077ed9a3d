/* main.c — bin/sanity: parses the command line, owns the process (exit
 * statuses, the session) and hands scripts to the Lua host.
 *   sanity run SCRIPT.lua [key=value ...] [--out F] [--seed N] [--threads N] [--resume] [--quiet]
 *   sanity sweep | merge | diff | info ... (cli/), version, --help
 * Exit: 0 success, 1 script error, 2 usage error, 130/143 stopped by
 * SIGINT/SIGTERM (partial results and the unit store are kept). */
#include <lauxlib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>

#include "cli/cli.h"
#include "host.h"
#include "interrupt.h"
#include "parallel.h"

#ifndef SANITY_GIT_REV
#define SANITY_GIT_REV "unknown"
#endif

static const char *usage =
    "usage: sanity <command> [args]\n"
    "\n"
    "commands:\n"
    "  run SCRIPT.lua [key=value ...] [options]   run an experiment script\n"
    "  sweep SCRIPT.lua key=v1,v2 ... --out DIR   run a grid of configurations\n"
    "  merge DIR -o MERGED.h5                     join a sweep's runs along a 'run' dimension\n"
    "  diff A.h5 B.h5                             compare two results files (ignoring times)\n"
    "  info FILE.h5                               provenance and datasets of a results file\n"
    "  version                                    print version and library versions\n"
    "\n"
    "Run 'sanity <command> --help' for a command's options.\n";

static const char *run_usage =
    "usage: sanity run SCRIPT.lua [key=value ...] [--out FILE.h5] [--seed N] [--threads N] [--resume] [--quiet]\n"
    "\n"
    "  key=value      becomes cfg.key in the script: numbers, true/false, comma lists\n"
    "                 (methods=gradient,ig -> {\"gradient\",\"ig\"}), else strings;\n"
    "                 dotted keys (ig.steps=32) make nested tables\n"
    "  --out FILE     cfg.out: where results.open() writes (FILE.partial until success)\n"
    "  --seed N       cfg.seed: the seed of every random draw (default 0)\n"
    "  --threads N    worker threads (default: all cores); results do not depend on it\n"
    "  --resume       cfg.resume = true: results.open keeps the units (f:unit) that an\n"
    "                 earlier, interrupted attempt of this run completed\n"
    "  --quiet        no progress or log output on stderr\n"
    "\n"
    "SIGINT/SIGTERM stop the script at the next safe point; the partial file and the\n"
    "unit store stay for --resume; the exit status is 130/143.\n"
    "\n"
    "Lua modules are found in $SANITY_PATH (default: the scripts/ folder next to bin/).\n";

static int usage_error(const char *msg, const char *hint) {
    fprintf(stderr, "sanity: %s\n%s\n", msg, hint);
    return 2;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int cmd_run(int argc, char **argv, int full_argc, char **full_argv) {
    if (argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        fputs(run_usage, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    Session s = {.nthreads = parallel_cpu_count(), .script = argv[0], .argc = argc, .argv = argv,
                 .full_argc = full_argc, .full_argv = full_argv};
    struct timeval tv;
    gettimeofday(&tv, NULL);
    s.start_time = (double)tv.tv_sec + tv.tv_usec * 1e-6;
    const char *hint = "try 'sanity run --help'";

    /* First pass: options that shape the state (seed, threads, quiet). */
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        long long v;
        if (strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "--seed") == 0 || strcmp(argv[i], "--threads") == 0) {
            if (i + 1 >= argc) {
                char msg[128];
                snprintf(msg, sizeof msg, "%s needs a value", argv[i]);
                return usage_error(msg, hint);
            }
            const char *val = argv[++i];
            if (strcmp(argv[i - 1], "--out") == 0) {
                out = val;
            } else if (strcmp(argv[i - 1], "--seed") == 0) {
                if (parse_int(val, 0, INT64_MAX, &v)) return usage_error("--seed needs a non-negative integer", hint);
                s.seed = v;
            } else {
                if (parse_int(val, 1, 256, &v)) return usage_error("--threads needs an integer in 1..256", hint);
                s.nthreads = (int)v;
            }
        } else if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            s.quiet = 1;
        } else if (strcmp(argv[i], "--resume") == 0) {
            s.resume = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown option '%s'", argv[i]);
            return usage_error(msg, hint);
        }
    }

    char dir[4096];
    host_scripts_dir(dir, sizeof dir);
    /* key=value pairs may also set seed/threads/out; parse them in a scratch
     * state first so the session is final before the real state exists. */
    lua_State *L = luaL_newstate();
    if (!L) return usage_error("out of memory", "");
    lua_newtable(L);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (strcmp(argv[i], "--quiet") != 0 && strcmp(argv[i], "--resume") != 0) i++;
            continue;
        }
        if (strcmp(argv[i], "-q") == 0) continue;
        char err[512];
        if (host_parse_kv(L, argv[i], err, sizeof err) != 0) {
            lua_close(L);
            return usage_error(err, hint);
        }
    }
    if (lua_getfield(L, -1, "seed") != LUA_TNIL) {
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 0) {
            lua_close(L);
            return usage_error("seed= needs a non-negative integer", hint);
        }
        s.seed = v;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, -1, "threads") != LUA_TNIL) {
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 1 || v > 256) {
            lua_close(L);
            return usage_error("threads= needs an integer in 1..256", hint);
        }
        s.nthreads = (int)v;
    }
    lua_pop(L, 1);
    lua_close(L);

    L = host_new(&s, dir);
    if (!L) return usage_error("out of memory", "");
    lua_newtable(L);
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (strcmp(argv[i], "--quiet") != 0 && strcmp(argv[i], "--resume") != 0) i++;
            continue;
        }
        if (strcmp(argv[i], "-q") == 0) continue;
        char err[512];
        host_parse_kv(L, argv[i], err, sizeof err); /* validated above */
    }
    if (out) {
        lua_pushstring(L, out);
        lua_setfield(L, -2, "out");
    }
    lua_pushinteger(L, s.seed);
    lua_setfield(L, -2, "seed");
    lua_pushinteger(L, s.nthreads);
    lua_setfield(L, -2, "threads");
    if (s.resume) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "resume");
    }
    lua_setglobal(L, "cfg");

    /* arg, as the standalone interpreter sets it */
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    lua_setglobal(L, "arg");

    interrupt_install();
    int status = host_run(L, argv[0]);
    lua_close(L);
    /* A script that finished despite a signal (it caught the error) did
     * complete its files: only a failed run reports the signal. */
    if (status != 0 && interrupt_signal()) return interrupt_status(interrupt_signal());
    return status;
}

static int cmd_version(void) {
    printf("sanity %s (git %s)\n", SANITY_VERSION, SANITY_GIT_REV);
    printf("%s\n", LUA_RELEASE);
    return 0;
}

int main(int argc, char **argv) {
    /* OpenBLAS starts a thread pool when it is loaded, before main. sanity
     * only calls it single-threaded from its own workers (README,
     * determinism), so the pool is idle weight that adds timing noise:
     * restart once with OPENBLAS_NUM_THREADS=1 unless the user set it. */
    if (!getenv("OPENBLAS_NUM_THREADS")) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv); /* returns only on failure: carry on */
    }
    /* Attribution and metric calls allocate and free tens of MB per call
     * (activations of per-thread model copies, maps, scratch). glibc would
     * serve each from fresh mmap()s or trim it back to the kernel on free,
     * so every call page-faulted and zeroed its memory again: up to a third
     * of a 2-thread max-sensitivity run went there (sys time 2.5 s of 12).
     * Keep such blocks in the heap and the freed memory for the next call;
     * only blocks of 256 MB and more (datasets, huge batches) are mapped. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2, argc, argv);
    if (strcmp(cmd, "sweep") == 0) return cli_sweep(argc - 2, argv + 2);
    if (strcmp(cmd, "merge") == 0) return cli_merge(argc - 2, argv + 2);
    if (strcmp(cmd, "diff") == 0) return cli_diff(argc - 2, argv + 2);
    if (strcmp(cmd, "info") == 0) return cli_info(argc - 2, argv + 2);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) return cmd_version();
    char msg[256];
    snprintf(msg, sizeof msg, "unknown command '%s'", cmd);
    return usage_error(msg, "try 'sanity --help'");
}
