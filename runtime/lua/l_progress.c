/* l_progress.c — sanity.progress{total = n, label = "mprt"} returns a
 * sanity.Progress with p:advance(k = 1) and p:done() (also __close). It only
 * converts arguments; drawing is progress.c's. Silent under --quiet. */
#include "lua/l_progress.h"

#include <lauxlib.h>

#include "lua/l_util.h"
#include "progress.h"

#define PROGRESS_MT "sanity.Progress"

static const char *const progress_opts[] = {"total", "label", NULL};

static Progress *checkprogress(lua_State *L) {
    return luaL_checkudata(L, 1, PROGRESS_MT);
}

/* p:advance(k = 1) */
static int l_progress_advance(lua_State *L) {
    Progress *p = checkprogress(L);
    lua_Integer k = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, k >= 0, 2, "units done must be >= 0");
    progress_advance(p, (int64_t)k);
    return 0;
}

/* p:done(): the final line; again: nothing. */
static int l_progress_done(lua_State *L) {
    progress_done(checkprogress(L));
    return 0;
}

static int l_progress_tostring(lua_State *L) {
    Progress *p = checkprogress(L);
    lua_pushfstring(L, "progress '%s' (%I/%I%s)", p->label, (lua_Integer)p->done, (lua_Integer)p->total,
                    p->finished ? ", done" : "");
    return 1;
}

/* __close: done() when the scope ends normally; after an error the bar is
 * only cleared (no "done" line for unfinished work). */
static int l_progress_close(lua_State *L) {
    Progress *p = checkprogress(L);
    if (lua_isnoneornil(L, 2)) {
        progress_done(p);
    } else {
        progress_clear(p);
        p->finished = 1;
    }
    return 0;
}

static const luaL_Reg progress_methods[] = {{"advance", l_progress_advance}, {"done", l_progress_done}, {NULL, NULL}};

int l_progress_new(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptkeys(L, 1, progress_opts);
    lua_Integer total = l_optinteger(L, 1, "total", -1);
    if (total < 0) return l_opterror(L, 1, "total", "a number of units >= 0 is required");
    const char *label = l_optstring(L, 1, "label", "progress");
    Session *s = l_session(L);
    Progress *p = lua_newuserdatauv(L, sizeof *p, 0);
    if (luaL_newmetatable(L, PROGRESS_MT)) {
        luaL_newlib(L, progress_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_progress_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_progress_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    progress_start(p, label, (int64_t)total, progress_mode(s && s->quiet), stderr);
    return 1;
}
