/* host.c — the Lua side of the process (see host.h). */
#include "host.h"

#include <cblas.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "interrupt.h"
#include "lua/l_progress.h"
#include "lua/modules.h"

const char *host_scripts_dir(char *buf, size_t n) {
    const char *env = getenv("SANITY_PATH");
    if (env && *env) {
        snprintf(buf, n, "%s", env);
        return buf;
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        snprintf(buf, n, "scripts");
        return buf;
    }
    exe[len] = '\0';
    snprintf(buf, n, "%s/../scripts", dirname(exe));
    char real[PATH_MAX];
    if (realpath(buf, real)) snprintf(buf, n, "%s", real);
    return buf;
}

static int l_sanity_log(lua_State *L) {
    Session *s = l_session(L);
    if (s && s->quiet) return 0;
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        if (i > 1) fputc('\t', stderr);
        fputs(luaL_tolstring(L, i, NULL), stderr);
        lua_pop(L, 1);
    }
    fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

/* sanity.clock(): monotonic wall-clock seconds, for benchmarks and ETAs. */
static int l_sanity_clock(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

/* sanity.sleep(seconds): waits; raises "interrupted by SIGINT" as soon as
 * SIGINT/SIGTERM arrives. For tests and polling. */
static int l_sanity_sleep(lua_State *L) {
    lua_Number s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0 && s <= 86400, 1, "seconds must be in 0..86400");
    struct timespec ts = {(time_t)s, (long)((s - (lua_Number)(time_t)s) * 1e9)};
    host_check_interrupt(L);
    nanosleep(&ts, NULL); /* a signal cuts it short */
    host_check_interrupt(L);
    return 0;
}

/* sanity.on_exit(fn): fn(ok) runs when the script ends, in registration order. */
static int l_sanity_on_exit(lua_State *L) {
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_getfield(L, LUA_REGISTRYINDEX, "sanity.on_exit");
    lua_pushvalue(L, 1);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return 0;
}

static void set_sanity_table(lua_State *L, Session *s, const char *scripts_dir) {
    lua_newtable(L);
    lua_pushstring(L, SANITY_VERSION);
    lua_setfield(L, -2, "version");
    lua_pushinteger(L, s->nthreads);
    lua_setfield(L, -2, "threads");
    lua_pushinteger(L, s->seed);
    lua_setfield(L, -2, "seed");
    lua_pushboolean(L, s->quiet);
    lua_setfield(L, -2, "quiet");
    lua_pushboolean(L, s->resume);
    lua_setfield(L, -2, "resume");
    lua_pushstring(L, scripts_dir);
    lua_setfield(L, -2, "scripts_dir");
    if (s->script) {
        lua_pushstring(L, s->script);
        lua_setfield(L, -2, "script");
    }
    lua_pushcfunction(L, l_sanity_log);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, l_sanity_on_exit);
    lua_setfield(L, -2, "on_exit");
    lua_pushcfunction(L, l_sanity_clock);
    lua_setfield(L, -2, "clock");
    lua_pushcfunction(L, l_sanity_sleep);
    lua_setfield(L, -2, "sleep");
    lua_pushcfunction(L, l_progress_new);
    lua_setfield(L, -2, "progress");
    lua_setglobal(L, "sanity");
}

lua_State *host_new(Session *session, const char *scripts_dir) {
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    l_set_session(L, session);
    luaL_openlibs(L);
    /* OpenBLAS runs single-threaded inside sanity's own workers: its threaded
     * sgemm results depend on the thread count (see README, determinism). */
    openblas_set_num_threads(1);

    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sanity.on_exit");

    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", scripts_dir, scripts_dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
    lua_getfield(L, -1, "loaded");
#define OPEN_MODULE(name)                        \
    luaL_requiref(L, "sanity." #name, luaopen_sanity_##name, 0); \
    lua_setglobal(L, #name);
    SANITY_MODULES(OPEN_MODULE)
#undef OPEN_MODULE
    lua_pop(L, 2);

    set_sanity_table(L, session, scripts_dir);
    /* math.random follows the run seed too */
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushinteger(L, session->seed);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
    return L;
}

/* Pushes the typed Lua value of one scalar token. */
static void push_scalar(lua_State *L, const char *tok) {
    if (strcmp(tok, "true") == 0)
        lua_pushboolean(L, 1);
    else if (strcmp(tok, "false") == 0)
        lua_pushboolean(L, 0);
    else if (lua_stringtonumber(L, tok) == 0)
        lua_pushstring(L, tok);
}

int host_valid_key(const char *k, size_t len) {
    int start = 1;
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = k[i];
        if (c == '.') {
            if (start) return 0;
            start = 1;
            continue;
        }
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        int digit = c >= '0' && c <= '9';
        if (start ? !alpha : !(alpha || digit)) return 0;
        start = 0;
    }
    return !start;
}

int host_parse_kv(lua_State *L, const char *arg, char *err, size_t errlen) {
    const char *eq = strchr(arg, '=');
    if (!eq) {
        snprintf(err, errlen, "'%s' is not key=value (e.g. noise=0.1 or methods=gradient,ig)", arg);
        return -1;
    }
    size_t klen = (size_t)(eq - arg);
    if (!host_valid_key(arg, klen)) {
        snprintf(err, errlen, "'%.*s' is not a valid key (letters, digits, '_', dots between names)", (int)klen, arg);
        return -1;
    }
    const char *val = eq + 1;
    int top = lua_gettop(L);
    /* walk/create subtables for dotted keys */
    const char *k = arg;
    for (const char *dot; (dot = memchr(k, '.', (size_t)(eq - k))) != NULL; k = dot + 1) {
        lua_pushlstring(L, k, (size_t)(dot - k));
        lua_pushvalue(L, -1);
        if (lua_gettable(L, -3) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -2);
            lua_pushvalue(L, -2);
            lua_settable(L, -5);
        }
        lua_remove(L, -2);
    }
    lua_pushlstring(L, k, (size_t)(eq - k));
    if (strchr(val, ',')) {
        lua_newtable(L);
        int i = 0;
        const char *p = val;
        for (;;) {
            const char *c = strchr(p, ',');
            size_t len = c ? (size_t)(c - p) : strlen(p);
            if (len == 0) {
                snprintf(err, errlen, "'%s': empty element in list", arg);
                lua_settop(L, top);
                return -1;
            }
            char tok[512];
            snprintf(tok, sizeof tok, "%.*s", (int)len, p);
            push_scalar(L, tok);
            lua_rawseti(L, -2, ++i);
            if (!c) break;
            p = c + 1;
        }
    } else {
        push_scalar(L, val);
    }
    lua_settable(L, -3);
    lua_settop(L, top);
    return 0;
}

static int traceback(lua_State *L) {
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Returns the number of hooks that failed (their errors are printed). */
static int run_exit_hooks(lua_State *L, int ok) {
    int failed = 0;
    lua_getfield(L, LUA_REGISTRYINDEX, "sanity.on_exit");
    lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_pushcfunction(L, traceback);
        lua_rawgeti(L, -2, i);
        lua_pushboolean(L, ok);
        if (lua_pcall(L, 1, 0, -3) != LUA_OK) {
            fprintf(stderr, "%s\n", lua_tostring(L, -1));
            lua_pop(L, 1);
            failed++;
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return failed;
}

/* Count hook: SIGINT/SIGTERM become a Lua error at the next safe point (as
 * lua.c does), so scopes close and exit hooks keep partial results. C
 * kernels run to their end first; units of work bound the delay. */
void host_check_interrupt(lua_State *L) {
    int sig = interrupt_signal();
    if (sig) luaL_error(L, "interrupted by %s", interrupt_name(sig));
}

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    host_check_interrupt(L);
}

int host_run(lua_State *L, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sanity: cannot open script '%s': %s\n", path, strerror(errno));
        return 2;
    }
    fclose(f);
    lua_pushcfunction(L, traceback);
    int status = luaL_loadfile(L, path);
    lua_sethook(L, interrupt_hook, LUA_MASKCOUNT, 1000);
    if (status == LUA_OK) status = lua_pcall(L, 0, 0, -2);
    lua_sethook(L, NULL, 0, 0); /* exit hooks must run to their end */
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (interrupt_signal()) { /* no traceback: nothing went wrong */
            const char *nl = msg ? strchr(msg, '\n') : NULL;
            fprintf(stderr, "%.*s\n", nl ? (int)(nl - msg) : (int)strlen(msg ? msg : ""), msg ? msg : "");
        } else {
            fprintf(stderr, "%s\n", msg);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    int hooks_failed = run_exit_hooks(L, status == LUA_OK);
    return status == LUA_OK && hooks_failed == 0 ? 0 : 1;
}
