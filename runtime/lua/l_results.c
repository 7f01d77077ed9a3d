/* l_results.c — the `results` module and the sanity.ResultsFile type.
 * Converts Lua values (tensors, nested arrays of numbers/strings/tensors,
 * option tables) to io/results.h calls, records provenance at open, and
 * completes files when the script ends (sanity.on_exit), and keeps units of
 * work (f:unit) in the file's unit store (io/units.h) so killed runs resume.
 * C-owned buffers live in userdata boxes so an error anywhere leaks nothing.
 * No HDF5 here. */
#include <cjson/cJSON.h>
#include <lauxlib.h>
#include <limits.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "host.h"
#include "io/provenance.h"
#include "io/results.h"
#include "io/units.h"
#include "lua/l_util.h"
#include "lua/modules.h"

#define RESULTS_MT "sanity.ResultsFile"
#define BOX_MT "sanity.results.Box"
#define STATE_KEY "sanity.results" /* registry: {files = {ud, ...}, paths = {[canonical] = true}} */

typedef struct LFile {
    ResultsFile *f;   /* NULL before open succeeded and after free */
    UnitStore *units; /* files being written: PATH.units/ (see f:unit) */
} LFile;

/* ---- boxes: C memory owned by the collector ----------------------------- */

typedef struct Box {
    ResultsArray arr;
    ResultsNames names;
    ResultsAttrList attrs;
    cJSON *json;
} Box;

static int box_gc(lua_State *L) {
    Box *b = luaL_checkudata(L, 1, BOX_MT);
    results_array_free(&b->arr);
    results_names_free(&b->names);
    results_attrs_free(&b->attrs);
    cJSON_Delete(b->json);
    memset(b, 0, sizeof *b);
    return 0;
}

static Box *newbox(lua_State *L) {
    Box *b = lua_newuserdatauv(L, sizeof *b, 0);
    memset(b, 0, sizeof *b);
    luaL_setmetatable(L, BOX_MT);
    return b;
}

/* A scratch buffer the collector frees. */
static void *scratch(lua_State *L, size_t n) {
    return lua_newuserdatauv(L, n ? n : 1, 0);
}

/* ---- file handles ------------------------------------------------------ */

/* Life of a file: results.open writes PATH.partial. It becomes PATH
 * (end_time_utc written, renamed) when the script calls f:close(), when a
 * `local f <close>` goes out of scope normally, or when the script ends
 * successfully: an explicit close is the script saying "these results are
 * complete", so it is final even if the script fails later. A failed script,
 * or a `<close>` scope left by an error, keeps PATH.partial and says so on
 * stderr. Collection (__gc) only frees: it never completes a file. */

static LFile *newfile(lua_State *L) {
    LFile *u = lua_newuserdatauv(L, sizeof *u, 1); /* user value: unit keys used in this attempt */
    u->f = NULL;
    u->units = NULL;
    luaL_setmetatable(L, RESULTS_MT);
    return u;
}

static LFile *checkfile(lua_State *L, int idx) {
    LFile *u = luaL_checkudata(L, idx, RESULTS_MT);
    if (!u->f || !results_is_open(u->f)) luaL_error(L, "results file is closed");
    return u;
}

/* Raises the current C error after closing a file nobody else holds. */
static int raise_closing(lua_State *L, LFile *u) {
    char msg[SN_ERRMSG_MAX];
    snprintf(msg, sizeof msg, "%s", sn_errmsg());
    results_free(u->f);
    u->f = NULL;
    return luaL_error(L, "%s", msg);
}

/* End time, close, rename, then drop the unit store (the file holds it
 * all now). SN_ERR leaves the file closed as .partial and the store. */
static int complete(LFile *u) {
    ResultsFile *f = u->f;
    if (provenance_finish(f) != SN_OK || results_close(f, 1) != SN_OK) {
        char msg[SN_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", sn_errmsg());
        results_close(f, 0);
        return sn_errorf("%s; partial results kept in %s", msg, results_disk_path(f));
    }
    if (u->units && units_remove(u->units) != SN_OK) /* complete anyway: a stale store is only clutter */
        fprintf(stderr, "warning: %s\n", sn_errmsg());
    return SN_OK;
}

/* ---- Lua values to arrays ------------------------------------------------ */

enum { LEAF_NUM, LEAF_STR, LEAF_TENSOR };

typedef struct Walk {
    int arg;          /* argument position for messages */
    const char *what; /* "value", "coords for 'layer'" */
    int kind;
    int depth; /* table nesting */
    int ndim;  /* depth + leaf tensor dims */
    int64_t shape[TENSOR_MAX_DIMS];
    int path[TENSOR_MAX_DIMS]; /* current 1-based indices, for messages */
    char *out;                 /* next element to fill */
} Walk;

static const char *elem_path(lua_State *L, const Walk *w, int level) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 0; i <= level; i++) {
        char s[24];
        snprintf(s, sizeof s, "[%d]", w->path[i]);
        luaL_addstring(&b, s);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static int walk_error(lua_State *L, const Walk *w, const char *msg) {
    return luaL_argerror(L, w->arg, lua_pushfstring(L, "%s: %s", w->what, msg));
}

/* Errors for a table (at idx, nesting level `level`) that is not a plain
 * non-empty array. */
static void check_array_table(lua_State *L, Walk *w, int idx, int level) {
    if (lua_rawlen(L, idx) > 0) return;
    const char *where = level ? lua_pushfstring(L, "element %s", elem_path(L, w, level - 1)) : "the value";
    lua_pushnil(L);
    if (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2);
        walk_error(L, w, lua_pushfstring(L, "%s is a table with key '%s', not an array", where, k));
    }
    walk_error(L, w,
               lua_pushfstring(L,
                               "%s is an empty array (its element type is unknown; use tensor.zeros(0) for an "
                               "empty numeric array)",
                               where));
}

static void leaf_mismatch(lua_State *L, Walk *w, int level) {
    static const char *const kinds[] = {"a number", "a string", "a tensor"};
    const char *p = elem_path(L, w, level);
    walk_error(L, w,
               lua_pushfstring(L, "element %s is a %s, expected %s (like element [1]...)", p, luaL_typename(L, -2),
                               kinds[w->kind]));
}

static void fill(lua_State *L, Walk *w, int idx, int level, int64_t leaf_numel) {
    int64_t len = (int64_t)lua_rawlen(L, idx);
    if (len != w->shape[level]) {
        const char *p = level ? lua_pushfstring(L, "element %s", elem_path(L, w, level - 1)) : "the array";
        walk_error(
            L, w,
            lua_pushfstring(L, "ragged array: %s has %d entries, expected %d", p, (int)len, (int)w->shape[level]));
    }
    for (int64_t i = 1; i <= len; i++) {
        w->path[level] = (int)i;
        int t = lua_rawgeti(L, idx, i);
        if (level + 1 < w->depth) {
            if (t != LUA_TTABLE) {
                const char *p = elem_path(L, w, level);
                walk_error(L, w,
                           lua_pushfstring(L, "element %s is a %s, expected an array (nesting depth %d)", p,
                                           luaL_typename(L, -2), w->depth));
            }
            fill(L, w, lua_gettop(L), level + 1, leaf_numel);
        } else if (w->kind == LEAF_NUM) {
            if (t != LUA_TNUMBER) leaf_mismatch(L, w, level);
            double v = lua_tonumber(L, -1);
            memcpy(w->out, &v, sizeof v);
            w->out += sizeof v;
        } else if (w->kind == LEAF_STR) {
            if (t != LUA_TSTRING) leaf_mismatch(L, w, level);
            size_t n;
            const char *s = lua_tolstring(L, -1, &n); /* stays alive: the table holds it */
            if (strlen(s) != n) {
                const char *p = elem_path(L, w, level);
                walk_error(L, w, lua_pushfstring(L, "string element %s contains a NUL byte", p));
            }
            memcpy(w->out, &s, sizeof s);
            w->out += sizeof s;
        } else {
            Tensor *x = l_testtensor(L, -1);
            if (!x) leaf_mismatch(L, w, level);
            int same = x->storage && x->ndim == w->ndim - w->depth;
            for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == w->shape[w->depth + d];
            if (!same) {
                char s1[128], s2[128];
                const char *p = elem_path(L, w, level);
                if (!x->storage) walk_error(L, w, lua_pushfstring(L, "tensor %s has been freed", p));
                tensor_shape_str(x, s1, sizeof s1);
                shape_str(w->ndim - w->depth, w->shape + w->depth, s2, sizeof s2);
                walk_error(L, w, lua_pushfstring(L, "tensor %s has shape %s, element [1]... has %s", p, s1, s2));
            }
            memcpy(w->out, tensor_data(x), (size_t)leaf_numel * sizeof(float));
            w->out += (size_t)leaf_numel * sizeof(float);
        }
        lua_pop(L, 1);
    }
}

/* Converts the value at idx. Scratch buffers are pushed on the stack and
 * must stay there while `a` is used. */
static void to_array(lua_State *L, int idx, ResultsArray *a, int arg, const char *what) {
    idx = lua_absindex(L, idx);
    memset(a, 0, sizeof *a);
    Tensor *t = l_testtensor(L, idx);
    if (t) {
        if (!t->storage) luaL_argerror(L, arg, lua_pushfstring(L, "%s: tensor has been freed", what));
        a->type = RESULTS_F32;
        a->ndim = t->ndim;
        memcpy(a->shape, t->shape, sizeof a->shape);
        a->data = tensor_data(t);
        return;
    }
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER: {
        double *v = scratch(L, sizeof *v);
        *v = lua_tonumber(L, idx);
        a->type = RESULTS_F64;
        a->data = v;
        return;
    }
    case LUA_TSTRING: {
        size_t n;
        const char **s = scratch(L, sizeof *s);
        *s = lua_tolstring(L, idx, &n);
        if (strlen(*s) != n) luaL_argerror(L, arg, lua_pushfstring(L, "%s: string contains a NUL byte", what));
        a->type = RESULTS_STR;
        a->data = s;
        return;
    }
    case LUA_TTABLE:
        break;
    default:
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "%s: expected a tensor, a number, a string or a (nested) array of numbers, "
                                      "strings or tensors, got %s",
                                      what, luaL_typename(L, idx)));
    }
    Walk w = {.arg = arg, .what = what};
    int top = lua_gettop(L);
    lua_pushvalue(L, idx);
    while (lua_type(L, -1) == LUA_TTABLE) { /* probe the first elements */
        if (w.depth == TENSOR_MAX_DIMS) walk_error(L, &w, "nested deeper than 8 levels");
        w.path[w.depth] = 1;
        check_array_table(L, &w, lua_gettop(L), w.depth);
        w.shape[w.depth++] = (int64_t)lua_rawlen(L, -1);
        lua_rawgeti(L, -1, 1);
    }
    int64_t leaf_numel = 1;
    Tensor *x = l_testtensor(L, -1);
    if (lua_type(L, -1) == LUA_TNUMBER) {
        w.kind = LEAF_NUM;
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        w.kind = LEAF_STR;
    } else if (x && x->storage) {
        w.kind = LEAF_TENSOR;
        if (w.depth + x->ndim > TENSOR_MAX_DIMS)
            walk_error(L, &w,
                       lua_pushfstring(L, "%d nesting levels plus %d tensor dimensions exceed 8", w.depth, x->ndim));
        memcpy(w.shape + w.depth, x->shape, sizeof(int64_t) * (size_t)x->ndim);
        leaf_numel = tensor_numel(x);
    } else {
        const char *p = elem_path(L, &w, w.depth - 1);
        walk_error(L, &w,
                   lua_pushfstring(L, "element %s is a %s; expected numbers, strings or tensors", p,
                                   x ? "freed tensor" : luaL_typename(L, -2)));
    }
    w.ndim = w.depth + (w.kind == LEAF_TENSOR ? x->ndim : 0);
    lua_settop(L, top);
    int64_t n = shape_numel(w.ndim, w.shape);
    size_t es = w.kind == LEAF_NUM ? sizeof(double) : w.kind == LEAF_STR ? sizeof(char *) : sizeof(float);
    char *buf = scratch(L, (size_t)n * es);
    w.out = buf;
    fill(L, &w, idx, 0, leaf_numel);
    a->type = w.kind == LEAF_NUM ? RESULTS_F64 : w.kind == LEAF_STR ? RESULTS_STR : RESULTS_F32;
    a->ndim = w.ndim;
    memcpy(a->shape, w.shape, sizeof a->shape);
    a->data = buf;
}

/* Reads an attrs table at idx into a scratch array (pushed). */
static ResultsAttr *to_attrs(lua_State *L, int idx, int arg, const char *opt, int *n) {
    idx = lua_absindex(L, idx);
    *n = 0;
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s: table expected, got %s", opt, luaL_typename(L, idx)));
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) count++, lua_pop(L, 1);
    ResultsAttr *a = scratch(L, (size_t)count * sizeof *a);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_argerror(L, arg, lua_pushfstring(L, "%s: keys must be strings, got %s", opt, luaL_typename(L, -2)));
        ResultsAttr *x = &a[(*n)++];
        memset(x, 0, sizeof *x);
        x->key = lua_tostring(L, -2);
        switch (lua_type(L, -1)) {
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1))
                x->type = RESULTS_ATTR_INT, x->i = lua_tointeger(L, -1);
            else
                x->type = RESULTS_ATTR_NUM, x->num = lua_tonumber(L, -1);
            break;
        case LUA_TBOOLEAN:
            x->type = RESULTS_ATTR_BOOL, x->i = lua_toboolean(L, -1);
            break;
        case LUA_TSTRING: {
            size_t len;
            x->type = RESULTS_ATTR_STR;
            x->str = lua_tolstring(L, -1, &len);
            if (strlen(x->str) != len)
                luaL_argerror(L, arg, lua_pushfstring(L, "%s: '%s' contains a NUL byte", opt, x->key));
            break;
        }
        default:
            luaL_argerror(L, arg,
                          lua_pushfstring(L, "%s: '%s' must be a number, string or boolean, got %s", opt, x->key,
                                          luaL_typename(L, -1)));
        }
        lua_pop(L, 1);
    }
    return a;
}

/* ---- C results to Lua ---------------------------------------------------- */

static void push_strings(lua_State *L, const char *const *s, int ndim, const int64_t *shape, int64_t *pos) {
    if (ndim == 0) {
        lua_pushstring(L, s[(*pos)++]);
        return;
    }
    lua_createtable(L, shape[0] < INT_MAX ? (int)shape[0] : 0, 0);
    for (int64_t i = 0; i < shape[0]; i++) {
        push_strings(L, s, ndim - 1, shape + 1, pos);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Pushes dataset `name` of f: a tensor for numbers, strings as (nested)
 * arrays. SN_ERR (nothing pushed) on failure. */
static int push_dataset(lua_State *L, ResultsFile *f, const char *name) {
    ResultsInfo info;
    if (results_info(f, name, &info) != SN_OK) return SN_ERR;
    if (info.type == RESULTS_STR) {
        Box *b = newbox(L);
        if (results_read_array(f, name, &b->arr) != SN_OK) {
            lua_pop(L, 1);
            return SN_ERR;
        }
        int64_t pos = 0;
        push_strings(L, b->arr.data, b->arr.ndim, b->arr.shape, &pos);
        lua_remove(L, -2);
        return SN_OK;
    }
    if (info.type == RESULTS_OTHER)
        return sn_errorf("results file '%s': dataset '%s' has type %s; only numbers and strings can be read",
                         results_path(f), name, info.dtype);
    if (info.ndim > TENSOR_MAX_DIMS)
        return sn_errorf("results file '%s': dataset '%s' has rank %d; tensors have at most %d", results_path(f), name,
                         info.ndim, TENSOR_MAX_DIMS);
    Tensor *t = l_pushtensor(L, info.ndim, info.shape);
    if (results_read_into(f, name, t) != SN_OK) {
        lua_pop(L, 1);
        return SN_ERR;
    }
    return SN_OK;
}

static void push_attrs(lua_State *L, const ResultsAttrList *l) {
    lua_createtable(L, 0, l->n);
    for (int i = 0; i < l->n; i++) {
        const ResultsAttr *a = &l->items[i];
        switch (a->type) {
        case RESULTS_ATTR_INT:
            lua_pushinteger(L, a->i);
            break;
        case RESULTS_ATTR_NUM:
            lua_pushnumber(L, a->num);
            break;
        case RESULTS_ATTR_STR:
            lua_pushstring(L, a->str);
            break;
        case RESULTS_ATTR_BOOL:
            lua_pushboolean(L, (int)a->i);
            break;
        case RESULTS_ATTR_NUMS:
            lua_createtable(L, (int)a->n, 0);
            for (int64_t k = 0; k < a->n; k++) lua_pushnumber(L, a->nums[k]), lua_rawseti(L, -2, k + 1);
            break;
        case RESULTS_ATTR_STRS:
            lua_createtable(L, (int)a->n, 0);
            for (int64_t k = 0; k < a->n; k++) lua_pushstring(L, a->strs[k]), lua_rawseti(L, -2, k + 1);
            break;
        }
        lua_setfield(L, -2, a->key);
    }
}

static void push_names(lua_State *L, const ResultsNames *l) {
    lua_createtable(L, (int)l->n, 0);
    for (int64_t i = 0; i < l->n; i++) lua_pushstring(L, l->names[i]), lua_rawseti(L, -2, i + 1);
}

/* ---- cfg as JSON ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Builds the JSON of the value at idx as a child of `parent` (under `key`
 * for objects, appended for arrays), so the tree in the box owns it at once.
 * Keys are sorted: the same cfg always gives the same text. */
static void json_add(lua_State *L, int idx, cJSON *parent, const char *key, int depth) {
    idx = lua_absindex(L, idx);
    cJSON *v = NULL;
    char buf[32];
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        v = cJSON_CreateNull();
        break;
    case LUA_TBOOLEAN:
        v = cJSON_CreateBool(lua_toboolean(L, idx));
        break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) { /* exact, even beyond 2^53 (seeds) */
            snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
            v = cJSON_CreateRaw(buf);
        } else {
            double d = lua_tonumber(L, idx);
            v = d == d && d - d == 0 ? cJSON_CreateNumber(d)
                                     : cJSON_CreateString(d != d  ? "nan"
                                                          : d > 0 ? "inf"
                                                                  : "-inf");
        }
        break;
    case LUA_TSTRING:
        v = cJSON_CreateString(lua_tostring(L, idx));
        break;
    case LUA_TTABLE: {
        if (depth > 16) {
            v = cJSON_CreateString("<table nested too deeply>");
            break;
        }
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) count++, lua_pop(L, 1);
        int is_array = n > 0 && count == n;
        v = is_array ? cJSON_CreateArray() : cJSON_CreateObject();
        if (!v) break;
        if (key)
            cJSON_AddItemToObject(parent, key, v);
        else
            cJSON_AddItemToArray(parent, v);
        if (is_array) {
            for (lua_Integer i = 1; i <= n; i++) {
                lua_rawgeti(L, idx, i);
                json_add(L, -1, v, NULL, depth + 1);
                lua_pop(L, 1);
            }
            return;
        }
        /* keys as strings, sorted; map string -> original key in a side table */
        lua_createtable(L, 0, (int)count);
        int side = lua_gettop(L);
        const char **keys = scratch(L, (size_t)count * sizeof *keys);
        int nk = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) == LUA_TSTRING)
                lua_pushvalue(L, -1);
            else
                luaL_tolstring(L, -1, NULL); /* a new string: the key itself stays as lua_next needs it */
            keys[nk++] = lua_tostring(L, -1);
            lua_pushvalue(L, -2);
            lua_settable(L, side); /* side[ks] = key; ks stays alive as a key of side */
        }
        qsort(keys, (size_t)nk, sizeof *keys, cmp_str);
        for (int i = 0; i < nk; i++) {
            lua_getfield(L, side, keys[i]);
            lua_gettable(L, idx);
            json_add(L, -1, v, keys[i], depth + 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
        return;
    }
    default:
        v = cJSON_CreateString(luaL_tolstring(L, idx, NULL));
        lua_pop(L, 1);
        break;
    }
    if (!v) luaL_error(L, "out of memory writing cfg as JSON");
    if (key)
        cJSON_AddItemToObject(parent, key, v);
    else
        cJSON_AddItemToArray(parent, v);
}

/* Pushes the JSON text of global cfg ("{}" when there is none). */
static const char *push_cfg_json(lua_State *L) {
    Box *b = newbox(L);
    b->json = cJSON_CreateArray();
    if (!b->json) luaL_error(L, "out of memory writing cfg as JSON");
    lua_getglobal(L, "cfg");
    if (lua_type(L, -1) != LUA_TTABLE) {
        lua_pop(L, 2);
        lua_pushliteral(L, "{}");
        return lua_tostring(L, -1);
    }
    json_add(L, -1, b->json, NULL, 0);
    lua_pop(L, 1);
    char *s = cJSON_PrintUnformatted(cJSON_GetArrayItem(b->json, 0));
    if (!s) luaL_error(L, "out of memory writing cfg as JSON");
    lua_pushstring(L, s);
    free(s);
    lua_remove(L, -2);
    return lua_tostring(L, -1);
}

/* ---- the run's files and the exit hook --------------------------------------- */

static int l_results_on_exit(lua_State *L);

/* Pushes the module state table, creating it (and registering the exit
 * hook) on first use. */
static int push_state(lua_State *L) {
    if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TTABLE) return lua_gettop(L);
    lua_pop(L, 1);
    lua_createtable(L, 0, 2);
    lua_newtable(L);
    lua_setfield(L, -2, "files");
    lua_newtable(L);
    lua_setfield(L, -2, "paths");
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
    if (lua_getfield(L, LUA_REGISTRYINDEX, "sanity.on_exit") != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, "sanity.on_exit");
    }
    lua_pushcfunction(L, l_results_on_exit);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    return lua_gettop(L);
}

/* on_exit(ok): completes open files after success; after a failure closes
 * them as .partial and says so. Raises if a file could not be completed. */
static int l_results_on_exit(lua_State *L) {
    int ok = lua_toboolean(L, 1);
    push_state(L);
    lua_getfield(L, -1, "files");
    int files = lua_gettop(L);
    luaL_Buffer errs;
    luaL_buffinit(L, &errs);
    int nerr = 0;
    for (lua_Integer i = 1, n = (lua_Integer)lua_rawlen(L, files); i <= n; i++) {
        lua_rawgeti(L, files, i);
        LFile *u = luaL_testudata(L, -1, RESULTS_MT);
        lua_pop(L, 1);
        if (!u || !u->f || !results_is_writable(u->f)) continue;
        if (results_is_open(u->f)) {
            if (ok) {
                if (complete(u) == SN_OK) continue;
                if (nerr++) luaL_addstring(&errs, "\n");
                luaL_addstring(&errs, sn_errmsg());
                continue;
            }
            results_close(u->f, 0);
            fprintf(stderr, "run failed; partial results kept in %s\n", results_disk_path(u->f));
        } else if (!results_is_complete(u->f)) {
            fprintf(stderr, "%s; partial results kept in %s\n", ok ? "results file closed by an error" : "run failed",
                    results_disk_path(u->f));
        }
    }
    luaL_pushresult(&errs);
    if (nerr) return lua_error(L);
    return 0;
}

/* ---- module functions -------------------------------------------------------- */

/* The unit store's fingerprint: cfg as JSON without what does not change
 * results (threads) or says how the process runs (resume). Pushed. */
static const char *push_fingerprint(lua_State *L, const char *cfg_json) {
    Box *b = newbox(L);
    b->json = cJSON_Parse(cfg_json);
    if (!b->json) luaL_error(L, "out of memory writing cfg as JSON");
    cJSON_DeleteItemFromObjectCaseSensitive(b->json, "threads");
    cJSON_DeleteItemFromObjectCaseSensitive(b->json, "resume");
    char *text = cJSON_PrintUnformatted(b->json);
    if (!text) luaL_error(L, "out of memory writing cfg as JSON");
    lua_pushstring(L, text);
    free(text);
    lua_remove(L, -2);
    return lua_tostring(L, -1);
}

static const char *const open_opts[] = {"resume", NULL};

/* results.open(path = cfg.out, {resume = cfg.resume}) */
static int l_results_open(lua_State *L) {
    const char *path = NULL;
    lua_settop(L, 2);
    l_checkoptkeys(L, 2, open_opts);
    Session *s = l_session(L);
    int resume_default = s && s->resume;
    if (lua_getglobal(L, "cfg") == LUA_TTABLE && lua_getfield(L, -1, "resume") == LUA_TBOOLEAN)
        resume_default = resume_default || lua_toboolean(L, -1);
    lua_settop(L, 2);
    int resume = l_optbool(L, 2, "resume", resume_default);
    if (lua_isnoneornil(L, 1)) {
        if (lua_getglobal(L, "cfg") == LUA_TTABLE && lua_getfield(L, -1, "out") == LUA_TSTRING)
            path = lua_tostring(L, -1);
        if (!path) return luaL_error(L, "no output file: pass --out FILE.h5 or results.open(path)");
    } else {
        path = luaL_checkstring(L, 1);
    }
    char canon[PATH_MAX];
    if (results_canonical_path(path, canon, sizeof canon) != SN_OK) return l_raise(L);
    int st = push_state(L);
    lua_getfield(L, st, "paths");
    if (lua_getfield(L, -1, canon) != LUA_TNIL)
        return luaL_error(
            L, "results file '%s' was already opened in this run (open each file once and keep the handle)", path);
    lua_pop(L, 1);

    const char *cfg_json = push_cfg_json(L);
    const char *fingerprint = push_fingerprint(L, cfg_json);
    char *cmd = s && s->full_argv ? provenance_shell_join(s->full_argc, s->full_argv)
                : s && s->argv    ? provenance_shell_join(s->argc, s->argv)
                                  : NULL;
    lua_pushstring(L, cmd ? cmd : "");
    free(cmd);
    Provenance p = {.script = s ? s->script : NULL,
                    .command_line = lua_tostring(L, -1),
                    .cfg_json = cfg_json,
                    .seed = s ? s->seed : 0,
                    .threads = s ? s->nthreads : 1,
                    .lua_version = LUA_RELEASE,
                    .sanity_version = SANITY_VERSION,
                    .start_time = s ? s->start_time : 0};

    LFile *u = newfile(L);
    lua_newtable(L);
    lua_setiuservalue(L, -2, 1);
    /* the store first: a refused resume must not truncate anything */
    if (units_open(&u->units, path, resume, fingerprint) != SN_OK) return l_raise(L);
    if (results_create(&u->f, path) != SN_OK) return l_raise(L);
    if (provenance_write(u->f, &p) != SN_OK) {
        char msg[SN_ERRMSG_MAX];
        snprintf(msg, sizeof msg, "%s", sn_errmsg());
        results_close(u->f, 0);
        return luaL_error(L, "%s", msg);
    }
    lua_pushboolean(L, 1);
    lua_setfield(L, st + 1, canon);
    lua_getfield(L, st, "files");
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    return 1;
}

/* Opens `path` read-only into a new handle on the stack (raises). */
static LFile *open_read(lua_State *L, const char *path) {
    char canon[PATH_MAX];
    if (results_canonical_path(path, canon, sizeof canon) == SN_OK) {
        lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY);
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_getfield(L, -1, "paths");
            int writing = lua_getfield(L, -1, canon) != LUA_TNIL;
            lua_pop(L, 2);
            if (writing && access(path, F_OK) != 0)
                luaL_error(L, "results file '%s' is still being written by this run (read it with f:read(name))", path);
        }
        lua_pop(L, 1);
    }
    LFile *u = newfile(L);
    if (results_open(&u->f, path, RESULTS_READ) != SN_OK) raise_closing(L, u);
    return u;
}

static int l_results_read(lua_State *L) {
    const char *path = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    LFile *u = open_read(L, path);
    if (push_dataset(L, u->f, name) != SN_OK) return raise_closing(L, u);
    results_free(u->f);
    u->f = NULL;
    return 1;
}

static int l_results_read_attrs(lua_State *L) {
    const char *path = luaL_checkstring(L, 1), *obj = luaL_optstring(L, 2, NULL);
    LFile *u = open_read(L, path);
    Box *b = newbox(L);
    if (results_attrs(u->f, obj, &b->attrs) != SN_OK) return raise_closing(L, u);
    results_free(u->f);
    u->f = NULL;
    push_attrs(L, &b->attrs);
    return 1;
}

static int l_results_list(lua_State *L) {
    const char *path = luaL_checkstring(L, 1);
    LFile *u = open_read(L, path);
    Box *b = newbox(L);
    if (results_list(u->f, &b->names) != SN_OK) return raise_closing(L, u);
    results_free(u->f);
    u->f = NULL;
    push_names(L, &b->names);
    return 1;
}

/* ---- file methods ------------------------------------------------------------ */

static const char *const write_opts[] = {"dims", "coords", "attrs", "overwrite", NULL};

static int l_file_write(lua_State *L) {
    LFile *u = checkfile(L, 1);
    const char *name = luaL_checkstring(L, 2);
    luaL_checkany(L, 3);
    lua_settop(L, 4); /* scratch buffers go above the arguments */
    l_checkoptkeys(L, 4, write_opts);
    ResultsArray a;
    to_array(L, 3, &a, 3, "value");
    ResultsWriteOpts o = {.overwrite = l_optbool(L, 4, "overwrite", 0)};
    ResultsDim dims[TENSOR_MAX_DIMS];
    ResultsArray coords[TENSOR_MAX_DIMS];
    char sa[128];
    shape_str(a.ndim, a.shape, sa, sizeof sa);
    int has_opts = lua_type(L, 4) == LUA_TTABLE;
    if (has_opts && lua_getfield(L, 4, "dims") != LUA_TNIL) {
        int di = lua_gettop(L);
        if (lua_type(L, di) != LUA_TTABLE)
            return l_opterror(L, 4, "dims",
                              lua_pushfstring(L, "array of names expected, got %s", luaL_typename(L, di)));
        int n = (int)lua_rawlen(L, di);
        if (n != a.ndim)
            return l_opterror(L, 4, "dims",
                              lua_pushfstring(L, "%d name%s for a value with %d dimension%s (shape %s)", n,
                                              n == 1 ? "" : "s", a.ndim, a.ndim == 1 ? "" : "s", sa));
        for (int i = 0; i < n; i++) {
            if (lua_rawgeti(L, di, i + 1) != LUA_TSTRING)
                return l_opterror(
                    L, 4, "dims",
                    lua_pushfstring(L, "entry %d is a %s, expected a string", i + 1, luaL_typename(L, -1)));
            dims[i].name = lua_tostring(L, -1); /* alive: held by the dims table */
            dims[i].coords = NULL;
            lua_pop(L, 1);
        }
        o.dims = dims;
    }
    if (has_opts && lua_getfield(L, 4, "coords") != LUA_TNIL) {
        int ci = lua_gettop(L);
        if (lua_type(L, ci) != LUA_TTABLE)
            return l_opterror(L, 4, "coords", lua_pushfstring(L, "table expected, got %s", luaL_typename(L, ci)));
        if (!o.dims) return l_opterror(L, 4, "coords", "needs option 'dims' (coordinates belong to named dimensions)");
        lua_newtable(L); /* keeps each coordinate's scratch buffers alive */
        int keep = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, ci)) {
            int j = -1;
            if (lua_type(L, -2) == LUA_TSTRING)
                for (int i = 0; i < a.ndim && j < 0; i++)
                    if (strcmp(dims[i].name, lua_tostring(L, -2)) == 0) j = i;
            if (j < 0) {
                const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : luaL_typename(L, -2);
                lua_pushliteral(L, "");
                for (int i = 0; i < a.ndim; i++) {
                    lua_pushfstring(L, "%s%s%s", lua_tostring(L, -1), i ? ", " : "", dims[i].name);
                    lua_remove(L, -2);
                }
                return l_opterror(L, 4, "coords",
                                  lua_pushfstring(L, "'%s' is not one of dims (%s)", k, lua_tostring(L, -1)));
            }
            const char *what = lua_pushfstring(L, "option 'coords': '%s'", dims[j].name);
            int top = lua_gettop(L);
            to_array(L, top - 1, &coords[j], 4, what);
            while (lua_gettop(L) >= top) lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
            dims[j].coords = &coords[j];
            lua_pop(L, 1); /* the value; the key stays for lua_next */
        }
    }
    if (has_opts && lua_getfield(L, 4, "attrs") != LUA_TNIL) o.attrs = to_attrs(L, -1, 4, "option 'attrs'", &o.nattrs);
    if (results_write(u->f, name, &a, &o) != SN_OK) return l_raise(L);
    return 0;
}

static int l_file_attrs(lua_State *L) {
    LFile *u = checkfile(L, 1);
    const char *obj = luaL_optstring(L, 2, NULL);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    int n;
    ResultsAttr *a = to_attrs(L, 3, 3, "attributes", &n);
    if (results_set_attrs(u->f, obj, a, n) != SN_OK) return l_raise(L);
    return 0;
}

static int l_file_flush(lua_State *L) {
    if (results_flush(checkfile(L, 1)->f) != SN_OK) return l_raise(L);
    return 0;
}

static int l_file_has(lua_State *L) {
    LFile *u = checkfile(L, 1);
    lua_pushboolean(L, results_has(u->f, luaL_checkstring(L, 2)));
    return 1;
}

static int l_file_read(lua_State *L) {
    LFile *u = checkfile(L, 1);
    if (push_dataset(L, u->f, luaL_checkstring(L, 2)) != SN_OK) return l_raise(L);
    return 1;
}

static int l_file_read_attrs(lua_State *L) {
    LFile *u = checkfile(L, 1);
    const char *obj = luaL_optstring(L, 2, NULL);
    Box *b = newbox(L);
    if (results_attrs(u->f, obj, &b->attrs) != SN_OK) return l_raise(L);
    push_attrs(L, &b->attrs);
    return 1;
}

static int l_file_list(lua_State *L) {
    LFile *u = checkfile(L, 1);
    Box *b = newbox(L);
    if (results_list(u->f, &b->names) != SN_OK) return l_raise(L);
    push_names(L, &b->names);
    return 1;
}

static int l_file_path(lua_State *L) {
    LFile *u = luaL_checkudata(L, 1, RESULTS_MT);
    if (!u->f) return luaL_error(L, "results file is closed");
    lua_pushstring(L, results_path(u->f));
    return 1;
}

/* ---- units of work ---------------------------------------------------------- */

/* How a unit value was given, so it reads back as the same Lua type. */
static const char *const unit_kinds[] = {"tensor", "integer", "number", "boolean", "string", "table", NULL};
enum { UNIT_TENSOR, UNIT_INTEGER, UNIT_NUMBER, UNIT_BOOLEAN, UNIT_STRING, UNIT_TABLE };

/* Pushes a native array as nested Lua tables of numbers or strings. */
static void push_nested(lua_State *L, const ResultsArray *a, int dim, int64_t *pos) {
    if (dim == a->ndim) {
        int64_t i = (*pos)++;
        if (a->type == RESULTS_STR)
            lua_pushstring(L, ((const char *const *)a->data)[i]);
        else if (a->type == RESULTS_I64)
            lua_pushinteger(L, (lua_Integer)((const int64_t *)a->data)[i]);
        else if (a->type == RESULTS_F64)
            lua_pushnumber(L, ((const double *)a->data)[i]);
        else
            lua_pushnumber(L, ((const float *)a->data)[i]);
        return;
    }
    lua_createtable(L, a->shape[dim] < INT_MAX ? (int)a->shape[dim] : 0, 0);
    for (int64_t i = 0; i < a->shape[dim]; i++) {
        push_nested(L, a, dim + 1, pos);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Pushes the values of a stored unit as a table name -> value. SN_ERR
 * (nothing pushed) when the file cannot be read as a unit. */
static int push_unit(lua_State *L, UnitStore *st, const char *key) {
    ResultsFile *uf;
    if (units_read(st, key, &uf) != SN_OK) return SN_ERR;
    Box *names = newbox(L); /* owns the list, and the file through the error paths below */
    int rc = results_list(uf, &names->names);
    lua_newtable(L);
    for (int64_t i = 0; rc == SN_OK && i < names->names.n; i++) {
        const char *name = names->names.names[i];
        Box *b = newbox(L);
        int kind = -1;
        if ((rc = results_attrs(uf, name, &b->attrs)) != SN_OK) break;
        for (int k = 0; k < b->attrs.n; k++)
            if (strcmp(b->attrs.items[k].key, "lua_type") == 0 && b->attrs.items[k].type == RESULTS_ATTR_STR)
                for (int j = 0; unit_kinds[j]; j++)
                    if (strcmp(unit_kinds[j], b->attrs.items[k].str) == 0) kind = j;
        if (kind < 0) {
            rc = sn_errorf("unit file of '%s': '%s' has no lua_type attribute", key, name);
            break;
        }
        if (kind == UNIT_TENSOR) {
            if ((rc = push_dataset(L, uf, name)) != SN_OK) break;
        } else {
            if ((rc = results_read_array(uf, name, &b->arr)) != SN_OK) break;
            int scalar = kind != UNIT_TABLE;
            if (scalar && b->arr.ndim != 0) {
                rc = sn_errorf("unit file of '%s': '%s' should be a scalar", key, name);
                break;
            }
            int64_t pos = 0;
            if (kind == UNIT_BOOLEAN && b->arr.type == RESULTS_I64)
                lua_pushboolean(L, ((const int64_t *)b->arr.data)[0] != 0);
            else
                push_nested(L, &b->arr, 0, &pos);
        }
        lua_setfield(L, -3, name + 1); /* "/scores" -> "scores" */
        lua_pop(L, 1);                 /* the box */
    }
    results_free(uf);
    if (rc != SN_OK) {
        lua_pop(L, 2);
        return SN_ERR;
    }
    lua_remove(L, -2);
    return SN_OK;
}

/* Writes the table at idx (name -> value) as unit `key`; raises. */
static void store_unit(lua_State *L, LFile *u, const char *key, int idx) {
    idx = lua_absindex(L, idx);
    /* names sorted: the unit file does not depend on table order */
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "unit '%s': the function must return a table of name -> value, got a %s key", key,
                       luaL_typename(L, -1));
        n++;
    }
    const char **sorted = scratch(L, (size_t)n * sizeof *sorted);
    lua_Integer k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* the strings stay alive as keys of the table */
        lua_pop(L, 1);
        sorted[k++] = lua_tostring(L, -1);
    }
    qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
    lua_createtable(L, (int)n, 0);
    int names = lua_gettop(L);
    for (k = 0; k < n; k++) lua_pushstring(L, sorted[k]), lua_rawseti(L, names, k + 1);
    /* convert everything before creating the file */
    ResultsArray *arrs = scratch(L, (size_t)n * sizeof *arrs);
    int *kinds = scratch(L, (size_t)n * sizeof *kinds);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        const char *name = lua_tostring(L, -1);
        lua_gettable(L, idx); /* the value; stays on the stack with its scratch buffers */
        int v = lua_gettop(L);
        const char *what = lua_pushfstring(L, "unit '%s': value '%s'", key, name);
        ResultsArray *a = &arrs[i - 1];
        memset(a, 0, sizeof *a);
        switch (lua_type(L, v)) {
        case LUA_TNUMBER:
            if (lua_isinteger(L, v)) {
                int64_t *x = scratch(L, sizeof *x);
                *x = (int64_t)lua_tointeger(L, v);
                a->type = RESULTS_I64, a->data = x, kinds[i - 1] = UNIT_INTEGER;
            } else {
                to_array(L, v, a, 2, what);
                kinds[i - 1] = UNIT_NUMBER;
            }
            break;
        case LUA_TBOOLEAN: {
            int64_t *x = scratch(L, sizeof *x);
            *x = lua_toboolean(L, v);
            a->type = RESULTS_I64, a->data = x, kinds[i - 1] = UNIT_BOOLEAN;
            break;
        }
        case LUA_TSTRING:
            to_array(L, v, a, 2, what);
            kinds[i - 1] = UNIT_STRING;
            break;
        case LUA_TTABLE:
            to_array(L, v, a, 2, what);
            if (a->type == RESULTS_F32)
                luaL_error(L,
                           "%s: a table of tensors cannot be stored in a unit; stack them (tensor.stack) or "
                           "return them under separate names",
                           what);
            kinds[i - 1] = UNIT_TABLE;
            break;
        default:
            if (l_testtensor(L, v)) {
                to_array(L, v, a, 2, what);
                kinds[i - 1] = UNIT_TENSOR;
                break;
            }
            luaL_error(L, "%s: expected a tensor, number, boolean, string or array, got %s", what, luaL_typename(L, v));
        }
    }
    ResultsFile *uf;
    if (units_begin(u->units, key, &uf) != SN_OK) l_raise(L);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        ResultsAttr attr = {.key = "lua_type", .type = RESULTS_ATTR_STR, .str = unit_kinds[kinds[i - 1]]};
        ResultsWriteOpts o = {.attrs = &attr, .nattrs = 1};
        int rc = results_write(uf, lua_tostring(L, -1), &arrs[i - 1], &o);
        lua_pop(L, 1);
        if (rc != SN_OK) {
            char msg[SN_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", sn_errmsg());
            results_free(uf); /* leaves only the ignored .partial */
            luaL_error(L, "unit '%s': %s", key, msg);
        }
    }
    if (units_commit(uf) != SN_OK) l_raise(L);
}

/* f:unit(key, fn): the values of unit `key` — stored by an earlier attempt
 * of this run, else fn()'s (a table name -> tensor, number, boolean, string
 * or array of numbers/strings), which are stored atomically first. Either
 * way they come back from the store, so a resumed run computes with the
 * very values an uninterrupted one does. */
static int l_file_unit(lua_State *L) {
    LFile *u = checkfile(L, 1);
    size_t klen;
    const char *key = luaL_checklstring(L, 2, &klen);
    luaL_argcheck(L, klen > 0 && strlen(key) == klen, 2, "unit key must be a non-empty string without NUL bytes");
    luaL_checktype(L, 3, LUA_TFUNCTION);
    lua_settop(L, 3);
    if (!results_is_writable(u->f) || !u->units)
        return luaL_error(L, "f:unit needs a results file opened for writing (results.open)");
    host_check_interrupt(L);    /* a unit boundary is the safe point to stop at */
    lua_getiuservalue(L, 1, 1); /* 4: keys used in this attempt */
    if (lua_getfield(L, 4, key) != LUA_TNIL)
        return luaL_error(L,
                          "unit '%s' was already used in this run (unit keys must be unique: name the method "
                          "and step, e.g. 'ig/step3')",
                          key);
    lua_pop(L, 1);
    if (units_has(u->units, key)) {
        if (push_unit(L, u->units, key) == SN_OK) {
            lua_pushboolean(L, 1);
            lua_setfield(L, 4, key); /* used: only once a unit succeeded (a pcall may retry a failed one) */
            return 1;
        }
        Session *s = l_session(L);
        if (!s || !s->quiet)
            fprintf(stderr, "warning: unit '%s' in %s is unreadable (%s); computing it again\n", key,
                    units_dir(u->units), sn_errmsg());
        units_drop(u->units, key);
    }
    lua_pushvalue(L, 3);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "unit '%s': the function must return a table of name -> value, got %s", key,
                          luaL_typename(L, -1));
    int top = lua_gettop(L);
    store_unit(L, u, key, top);
    lua_settop(L, top);
    if (push_unit(L, u->units, key) != SN_OK) return l_raise(L);
    lua_pushboolean(L, 1);
    lua_setfield(L, 4, key);
    return 1;
}

/* f:units(): {dir = "PATH.units", stored = n} — for tests and progress. */
static int l_file_units(lua_State *L) {
    LFile *u = checkfile(L, 1);
    if (!u->units) return luaL_error(L, "f:units needs a results file opened for writing");
    lua_createtable(L, 0, 2);
    lua_pushstring(L, units_dir(u->units));
    lua_setfield(L, -2, "dir");
    lua_pushinteger(L, units_count(u->units));
    lua_setfield(L, -2, "stored");
    return 1;
}

/* f:close(): the file is complete now (end time, rename). Again: nothing. */
static int l_file_close(lua_State *L) {
    LFile *u = luaL_checkudata(L, 1, RESULTS_MT);
    if (!u->f || !results_is_open(u->f)) return 0;
    if ((results_is_writable(u->f) ? complete(u) : results_close(u->f, 0)) != SN_OK) return l_raise(L);
    lua_pushstring(L, results_path(u->f));
    return 1;
}

/* __close(f, err): like f:close() when the scope ends normally; after an
 * error the file stays .partial (the exit hook reports it). */
static int l_file_tbc(lua_State *L) {
    LFile *u = luaL_checkudata(L, 1, RESULTS_MT);
    if (!u->f || !results_is_open(u->f)) return 0;
    if (lua_isnoneornil(L, 2)) return l_file_close(L);
    results_close(u->f, 0);
    return 0;
}

static int l_file_gc(lua_State *L) {
    LFile *u = luaL_checkudata(L, 1, RESULTS_MT);
    results_free(u->f); /* never completes: only close/exit do */
    u->f = NULL;
    units_free(u->units);
    u->units = NULL;
    return 0;
}

static int l_file_tostring(lua_State *L) {
    LFile *u = luaL_checkudata(L, 1, RESULTS_MT);
    if (!u->f)
        lua_pushliteral(L, "results file (closed)");
    else if (results_is_open(u->f) && results_is_writable(u->f))
        lua_pushfstring(L, "results file '%s' (writing %s)", results_path(u->f), results_disk_path(u->f));
    else if (results_is_open(u->f))
        lua_pushfstring(L, "results file '%s' (read-only)", results_path(u->f));
    else if (results_is_complete(u->f))
        lua_pushfstring(L, "results file '%s' (complete)", results_path(u->f));
    else
        lua_pushfstring(L, "results file '%s' (closed, partial results in %s)", results_path(u->f),
                        results_disk_path(u->f));
    return 1;
}

static const luaL_Reg file_methods[] = {
    {"write", l_file_write}, {"attrs", l_file_attrs}, {"flush", l_file_flush},
    {"has", l_file_has},     {"read", l_file_read},   {"read_attrs", l_file_read_attrs},
    {"list", l_file_list},   {"path", l_file_path},   {"close", l_file_close},
    {"unit", l_file_unit},   {"units", l_file_units}, {NULL, NULL}};

static const luaL_Reg file_meta[] = {
    {"__gc", l_file_gc}, {"__close", l_file_tbc}, {"__tostring", l_file_tostring}, {NULL, NULL}};

static const luaL_Reg results_funcs[] = {{"open", l_results_open},
                                         {"read", l_results_read},
                                         {"read_attrs", l_results_read_attrs},
                                         {"list", l_results_list},
                                         {NULL, NULL}};

int luaopen_sanity_results(lua_State *L) {
    luaL_newmetatable(L, RESULTS_MT);
    luaL_setfuncs(L, file_meta, 0);
    luaL_newlib(L, file_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    luaL_newlib(L, results_funcs);
    return 1;
}
