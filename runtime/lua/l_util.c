/* l_util.c — shared binding helpers (see l_util.h). */
#include "lua/l_util.h"

#include <string.h>

#include "error.h"
#include "rng.h"

Session *l_session(lua_State *L) { return *(Session **)lua_getextraspace(L); }

void l_set_session(lua_State *L, Session *s) { *(Session **)lua_getextraspace(L) = s; }

int l_raise(lua_State *L) { return luaL_error(L, "%s", sn_errmsg()); }

int l_opterror(lua_State *L, int arg, const char *name, const char *msg) {
    return luaL_argerror(L, arg, lua_pushfstring(L, "option '%s': %s", name, msg));
}


Tensor *l_testtensor(lua_State *L, int idx) { return luaL_testudata(L, idx, TENSOR_MT); }

Tensor *l_checktensor(lua_State *L, int idx) {
    Tensor *t = luaL_checkudata(L, idx, TENSOR_MT);
    if (!t->storage) luaL_argerror(L, idx, "tensor has been freed");
    return t;
}

void l_gcdebt(lua_State *L, size_t bytes) {
    if (bytes >= 1024) lua_gc(L, LUA_GCSTEP, (int)(bytes / 1024 > 1 << 20 ? 1 << 20 : bytes / 1024));
}

Tensor *l_pushtensor_move(lua_State *L, Tensor *t) {
    Tensor *u = lua_newuserdatauv(L, sizeof(Tensor), 0);
    *u = *t;
    t->storage = NULL;
    luaL_setmetatable(L, TENSOR_MT);
    l_gcdebt(L, (size_t)tensor_numel(u) * sizeof(float));
    return u;
}

Tensor *l_pushtensor(lua_State *L, int ndim, const int64_t *shape) {
    Tensor t;
    if (tensor_init(&t, ndim, shape) != SN_OK) l_raise(L);
    return l_pushtensor_move(L, &t);
}

int l_checkshape(lua_State *L, int idx, int64_t *shape) {
    int n;
    if (lua_istable(L, idx)) {
        n = (int)luaL_len(L, idx);
        if (n > TENSOR_MAX_DIMS) luaL_argerror(L, idx, "too many dimensions (at most 8)");
        for (int i = 0; i < n; i++) {
            lua_geti(L, idx, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            if (!ok) luaL_argerror(L, idx, lua_pushfstring(L, "shape entry %d is not an integer", i + 1));
            if (v < 0) luaL_argerror(L, idx, lua_pushfstring(L, "shape entry %d is negative", i + 1));
            shape[i] = v;
            lua_pop(L, 1);
        }
    } else {
        n = lua_gettop(L) - idx + 1;
        if (n > TENSOR_MAX_DIMS) luaL_argerror(L, idx, "too many dimensions (at most 8)");
        for (int i = 0; i < n; i++) {
            shape[i] = luaL_checkinteger(L, idx + i);
            if (shape[i] < 0) luaL_argerror(L, idx + i, "size must be non-negative");
        }
    }
    return n;
}

/* Pushes opts[name] (or nil when opts is absent); returns its type. */
static int getopt(lua_State *L, int idx, const char *name) {
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    return lua_getfield(L, idx, name);
}

lua_Number l_optnumber(lua_State *L, int idx, const char *name, lua_Number def) {
    int t = getopt(L, idx, name);
    lua_Number v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tonumberx(L, -1, &ok);
        if (!ok || t != LUA_TNUMBER)
            l_opterror(L, idx, name, lua_pushfstring(L, "number expected, got %s", luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
    return v;
}

lua_Integer l_optinteger(lua_State *L, int idx, const char *name, lua_Integer def) {
    int t = getopt(L, idx, name);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int ok;
        v = lua_tointegerx(L, -1, &ok);
        if (!ok || t != LUA_TNUMBER)
            l_opterror(L, idx, name, lua_pushfstring(L, "integer expected, got %s", t == LUA_TNUMBER ? "non-integer number" : luaL_typename(L, -1)));
    }
    lua_pop(L, 1);
    return v;
}

int l_optbool(lua_State *L, int idx, const char *name, int def) {
    int t = getopt(L, idx, name), v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TBOOLEAN) l_opterror(L, idx, name, lua_pushfstring(L, "boolean expected, got %s", luaL_typename(L, -1)));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* The returned string stays valid while the option table is alive. */
const char *l_optstring(lua_State *L, int idx, const char *name, const char *def) {
    int t = getopt(L, idx, name);
    const char *v = def;
    if (t != LUA_TNIL) {
        if (t != LUA_TSTRING) l_opterror(L, idx, name, lua_pushfstring(L, "string expected, got %s", luaL_typename(L, -1)));
        v = lua_tostring(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

const char *l_joinlist(lua_State *L, const char *const lst[]) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; lst[i]; i++) {
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, lst[i]);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

int l_optchoice(lua_State *L, int idx, const char *name, const char *def, const char *const lst[]) {
    const char *v = l_optstring(L, idx, name, def);
    for (int i = 0; lst[i]; i++)
        if (strcmp(lst[i], v) == 0) return i;
    const char *choices = l_joinlist(L, lst);
    return l_opterror(L, idx, name, lua_pushfstring(L, "unknown value '%s' (expected one of: %s)", v, choices));
}

void l_checkoptkeys(lua_State *L, int idx, const char *const known[]) {
    if (lua_isnoneornil(L, idx)) return;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) luaL_argerror(L, idx, "option table has a non-string key");
        const char *k = lua_tostring(L, -1);
        int found = 0;
        for (int i = 0; known[i] && !found; i++) found = strcmp(known[i], k) == 0;
        if (!found) {
            const char *valid = l_joinlist(L, known);
            luaL_argerror(L, idx, lua_pushfstring(L, "unknown option '%s' (valid: %s)", k, valid));
        }
    }
}

uint64_t l_optseed(lua_State *L, int idx) {
    return (uint64_t)l_optinteger(L, idx, "seed", l_session(L) ? l_session(L)->seed : 0);
}

uint64_t l_optstream(lua_State *L, int idx, const char *purpose) {
    int t = getopt(L, idx, "stream");
    uint64_t s;
    if (t == LUA_TSTRING) {
        s = rng_hash_string(lua_tostring(L, -1));
    } else if (t == LUA_TNUMBER && lua_isinteger(L, -1)) {
        s = (uint64_t)lua_tointeger(L, -1);
    } else if (t == LUA_TNIL) {
        /* unkeyed draws: purpose + a counter kept in the registry */
        lua_getfield(L, LUA_REGISTRYINDEX, "sanity.draws");
        lua_Integer n = lua_tointeger(L, -1);
        lua_pop(L, 1);
        lua_pushinteger(L, n + 1);
        lua_setfield(L, LUA_REGISTRYINDEX, "sanity.draws");
        s = rng_stream(purpose, (uint64_t)n, 0);
    } else {
        return (uint64_t)l_opterror(L, idx, "stream", "integer or string expected");
    }
    lua_pop(L, 1);
    return s;
}
