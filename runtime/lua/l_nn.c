/* l_nn.c — the `nn` module: layer descriptors (nn.conv2d(...) etc., a
 * sanity.Layer value holding a checked LayerConfig), nn.sequential for
 * chains and nn.graph, a builder for DAGs (residual blocks). Both return
 * sanity.Model values (l_model.c). Only argument conversion here: configs
 * are checked by each kind's LayerOps, graphs by model.c.
 *
 *   nn.linear(in, out [, {bias=true, init="kaiming_uniform", init_std=0.01}])
 *   nn.conv2d(cin, cout, k [, {stride=1, padding=0, dilation=1, groups=1, bias, init, init_std}])
 *   nn.maxpool2d(k [, {stride=k, padding=0}])
 *   nn.avgpool2d(k [, {stride=k, padding=0, count_include_pad=true}])
 *   nn.adaptive_avgpool2d([out=1])
 *   nn.relu() nn.leaky_relu([slope=0.01]) nn.tanh() nn.sigmoid()
 *   nn.softmax() nn.log_softmax()          (over dim 1)
 *   nn.flatten() nn.identity() nn.add()    (add: two inputs, same shape)
 *   nn.batchnorm1d(n [, {eps=1e-5, momentum=0.1}]) nn.batchnorm2d(c [, ...])
 *   nn.dropout([p=0.5])
 * Sizes k/stride/padding/dilation/out: a number or {h, w}. init:
 * "kaiming_uniform" (PyTorch), "glorot_uniform", "normal" (init_std).
 * A layer value exposes .type and its config fields (layer.kernel_size).
 *
 *   nn.sequential({layer | {"name", layer}, ...} [, {seed=run seed, input_shape={1, 28, 28}}])
 *     unnamed entries are called <type><position> ("flatten7")
 *   local g = nn.graph{seed=, input_shape=}
 *   local x = g:input()                      -- "input"
 *   local h = g:add("conv1", nn.conv2d(1, 16, 3, {padding=1}), x)   -- returns "conv1"
 *   local s = g:add("add1", nn.add(), h, x)  -- inputs by name
 *   local m = g:build(s)                     -- s must be the last layer added
 * With input_shape, shapes are checked as layers are added (errors point at
 * the offending line). */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lua/l_model.h"
#include "lua/l_util.h"
#include "lua/modules.h"
#include "model.h"

#define LAYER_MT "sanity.Layer"
#define GRAPH_MT "sanity.Graph"

typedef struct {
    LayerKind kind;
    LayerConfig cfg;
} LayerDesc;

/* ---- argument helpers ---- */

/* A size given as a number or a {h, w} table. */
static void read_pair(lua_State *L, int idx, const char *what, int out[2], int is_opt, int optidx) {
    int t = lua_type(L, idx);
    if (t == LUA_TNUMBER && lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        if (v < -1000000000 || v > 1000000000) goto bad;
        out[0] = out[1] = (int)v;
        return;
    }
    if (t == LUA_TTABLE && luaL_len(L, idx) == 2) {
        for (int i = 0; i < 2; i++) {
            lua_geti(L, idx, i + 1);
            int ok;
            lua_Integer v = lua_tointegerx(L, -1, &ok);
            lua_pop(L, 1);
            if (!ok || v < -1000000000 || v > 1000000000) goto bad;
            out[i] = (int)v;
        }
        return;
    }
bad:
    if (is_opt) l_opterror(L, optidx, what, "integer or {h, w} pair of integers expected");
    luaL_argerror(L, idx, lua_pushfstring(L, "%s: integer or {h, w} pair of integers expected", what));
}

static void opt_pair(lua_State *L, int opts, const char *name, int out[2]) {
    if (lua_isnoneornil(L, opts)) return;
    luaL_checktype(L, opts, LUA_TTABLE);
    if (lua_getfield(L, opts, name) != LUA_TNIL) read_pair(L, lua_gettop(L), name, out, 1, opts);
    lua_pop(L, 1);
}

static int check_int(lua_State *L, int arg, const char *what) {
    lua_Integer v = luaL_checkinteger(L, arg);
    if (v < -1000000000 || v > 1000000000) luaL_argerror(L, arg, lua_pushfstring(L, "%s out of range", what));
    return (int)v;
}

static const char *const init_names[] = {"kaiming_uniform", "glorot_uniform", "normal", NULL};

static void opt_init(lua_State *L, int opts, LayerConfig *c) {
    c->bias = l_optbool(L, opts, "bias", 1);
    c->init = (InitKind)l_optchoice(L, opts, "init", "kaiming_uniform", init_names);
    c->init_std = (float)l_optnumber(L, opts, "init_std", 0.01);
}

/* Checks the config with the kind's rules and pushes the descriptor. */
static int push_layer(lua_State *L, LayerKind kind, const LayerConfig *c) {
    if (layer_ops(kind)->check(c) != SN_OK) return luaL_error(L, "nn.%s: %s", layer_kind_name(kind), sn_errmsg());
    LayerDesc *d = lua_newuserdatauv(L, sizeof *d, 0);
    d->kind = kind;
    d->cfg = *c;
    luaL_setmetatable(L, LAYER_MT);
    return 1;
}

static LayerDesc *test_layer(lua_State *L, int idx) {
    return luaL_testudata(L, idx, LAYER_MT);
}

/* ---- constructors ---- */

static const char *const linear_opts[] = {"bias", "init", "init_std", NULL};

static int l_nn_linear(lua_State *L) {
    LayerConfig c;
    layer_config_default(&c, LAYER_LINEAR);
    c.in = check_int(L, 1, "in_features");
    c.out = check_int(L, 2, "out_features");
    l_checkoptkeys(L, 3, linear_opts);
    opt_init(L, 3, &c);
    return push_layer(L, LAYER_LINEAR, &c);
}

static const char *const conv_opts[] = {"stride", "padding", "dilation", "groups", "bias", "init", "init_std", NULL};

static int l_nn_conv2d(lua_State *L) {
    LayerConfig c;
    layer_config_default(&c, LAYER_CONV2D);
    c.in = check_int(L, 1, "in_channels");
    c.out = check_int(L, 2, "out_channels");
    read_pair(L, 3, "kernel_size", c.kernel, 0, 0);
    l_checkoptkeys(L, 4, conv_opts);
    opt_pair(L, 4, "stride", c.stride);
    opt_pair(L, 4, "padding", c.padding);
    opt_pair(L, 4, "dilation", c.dilation);
    lua_Integer g = l_optinteger(L, 4, "groups", 1);
    if (g < 1 || g > 1000000000) l_opterror(L, 4, "groups", "must be a positive integer");
    c.groups = (int)g;
    opt_init(L, 4, &c);
    return push_layer(L, LAYER_CONV2D, &c);
}

static const char *const maxpool_opts[] = {"stride", "padding", NULL};
static const char *const avgpool_opts[] = {"stride", "padding", "count_include_pad", NULL};

static int pool(lua_State *L, LayerKind kind) {
    LayerConfig c;
    layer_config_default(&c, kind);
    read_pair(L, 1, "kernel_size", c.kernel, 0, 0);
    l_checkoptkeys(L, 2, kind == LAYER_MAXPOOL2D ? maxpool_opts : avgpool_opts);
    c.stride[0] = c.kernel[0], c.stride[1] = c.kernel[1]; /* PyTorch: stride defaults to the kernel */
    opt_pair(L, 2, "stride", c.stride);
    opt_pair(L, 2, "padding", c.padding);
    if (kind == LAYER_AVGPOOL2D) c.count_include_pad = l_optbool(L, 2, "count_include_pad", 1);
    return push_layer(L, kind, &c);
}

static int l_nn_maxpool2d(lua_State *L) {
    return pool(L, LAYER_MAXPOOL2D);
}
static int l_nn_avgpool2d(lua_State *L) {
    return pool(L, LAYER_AVGPOOL2D);
}

static int l_nn_adaptive_avgpool2d(lua_State *L) {
    LayerConfig c;
    layer_config_default(&c, LAYER_ADAPTIVE_AVGPOOL2D);
    if (!lua_isnoneornil(L, 1)) read_pair(L, 1, "output_size", c.output_size, 0, 0);
    return push_layer(L, LAYER_ADAPTIVE_AVGPOOL2D, &c);
}

static int simple(lua_State *L, LayerKind kind) {
    LayerConfig c;
    layer_config_default(&c, kind);
    if (!lua_isnone(L, 1))
        return luaL_error(L, "nn.%s takes no arguments (got %d)", layer_kind_name(kind), lua_gettop(L));
    return push_layer(L, kind, &c);
}

static int l_nn_relu(lua_State *L) {
    return simple(L, LAYER_RELU);
}
static int l_nn_tanh(lua_State *L) {
    return simple(L, LAYER_TANH);
}
static int l_nn_sigmoid(lua_State *L) {
    return simple(L, LAYER_SIGMOID);
}
static int l_nn_softmax(lua_State *L) {
    return simple(L, LAYER_SOFTMAX);
}
static int l_nn_log_softmax(lua_State *L) {
    return simple(L, LAYER_LOG_SOFTMAX);
}
static int l_nn_flatten(lua_State *L) {
    return simple(L, LAYER_FLATTEN);
}
static int l_nn_add(lua_State *L) {
    return simple(L, LAYER_ADD);
}
static int l_nn_identity(lua_State *L) {
    return simple(L, LAYER_IDENTITY);
}

static int l_nn_leaky_relu(lua_State *L) {
    LayerConfig c;
    layer_config_default(&c, LAYER_LEAKY_RELU);
    c.slope = (float)luaL_optnumber(L, 1, 0.01);
    return push_layer(L, LAYER_LEAKY_RELU, &c);
}

static int l_nn_dropout(lua_State *L) {
    LayerConfig c;
    layer_config_default(&c, LAYER_DROPOUT);
    c.p = (float)luaL_optnumber(L, 1, 0.5);
    return push_layer(L, LAYER_DROPOUT, &c);
}

static const char *const bn_opts[] = {"eps", "momentum", NULL};

static int batchnorm(lua_State *L, LayerKind kind) {
    LayerConfig c;
    layer_config_default(&c, kind);
    c.in = check_int(L, 1, "num_features");
    l_checkoptkeys(L, 2, bn_opts);
    c.eps = (float)l_optnumber(L, 2, "eps", 1e-5);
    c.momentum = (float)l_optnumber(L, 2, "momentum", 0.1);
    return push_layer(L, kind, &c);
}

static int l_nn_batchnorm1d(lua_State *L) {
    return batchnorm(L, LAYER_BATCHNORM1D);
}
static int l_nn_batchnorm2d(lua_State *L) {
    return batchnorm(L, LAYER_BATCHNORM2D);
}

/* ---- the Layer value ---- */

static int l_layer_tostring(lua_State *L) {
    LayerDesc *d = luaL_checkudata(L, 1, LAYER_MT);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "nn.");
    luaL_addstring(&b, layer_kind_name(d->kind));
    luaL_addchar(&b, '{');
    int nf;
    const LayerField *fs = layer_fields(d->kind, &nf);
    for (int i = 0; i < nf; i++) {
        const char *p = (const char *)&d->cfg + fs[i].offset;
        char v[64];
        switch (fs[i].type) {
        case FIELD_INT:
            snprintf(v, sizeof v, "%d", *(const int *)p);
            break;
        case FIELD_BOOL:
            snprintf(v, sizeof v, "%s", *(const int *)p ? "true" : "false");
            break;
        case FIELD_FLOAT:
            snprintf(v, sizeof v, "%g", (double)*(const float *)p);
            break;
        case FIELD_INIT:
            snprintf(v, sizeof v, "\"%s\"", init_kind_name(*(const InitKind *)p));
            break;
        case FIELD_PAIR:
            snprintf(v, sizeof v, "{%d, %d}", ((const int *)p)[0], ((const int *)p)[1]);
            break;
        }
        if (i) luaL_addstring(&b, ", ");
        luaL_addstring(&b, fs[i].name);
        luaL_addchar(&b, '=');
        luaL_addstring(&b, v);
    }
    luaL_addchar(&b, '}');
    luaL_pushresult(&b);
    return 1;
}

/* layer.type and the config fields by their PyTorch names. */
static int l_layer_index(lua_State *L) {
    LayerDesc *d = luaL_checkudata(L, 1, LAYER_MT);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "type") == 0) {
        lua_pushstring(L, layer_kind_name(d->kind));
        return 1;
    }
    int nf;
    const LayerField *fs = layer_fields(d->kind, &nf);
    for (int i = 0; i < nf; i++) {
        if (strcmp(fs[i].name, k)) continue;
        l_push_config_field(L, &d->cfg, &fs[i]);
        return 1;
    }
    lua_pushnil(L);
    return 1;
}

/* ---- building models ---- */

/* Reads opts.seed and opts.input_shape into a new model owned by a
 * sanity.Model userdata pushed on the stack (so errors cannot leak it). */
static Model *new_model(lua_State *L, int opts, const char *const known[]) {
    l_checkoptkeys(L, opts, known);
    lua_Integer seed = (lua_Integer)l_optseed(L, opts);
    if (seed < 0) l_opterror(L, opts, "seed", "must be non-negative");
    int64_t shape[TENSOR_MAX_DIMS];
    int nd = -1;
    if (!lua_isnoneornil(L, opts) && lua_getfield(L, opts, "input_shape") != LUA_TNIL) {
        if (!lua_istable(L, -1)) l_opterror(L, opts, "input_shape", "table of sizes expected, e.g. {1, 28, 28}");
        nd = (int)luaL_len(L, -1);
        if (nd < 1 || nd >= TENSOR_MAX_DIMS) l_opterror(L, opts, "input_shape", "1 to 7 sizes expected");
        for (int i = 0; i < nd; i++) {
            lua_geti(L, -1, i + 1);
            int ok;
            shape[i] = lua_tointegerx(L, -1, &ok);
            if (!ok || shape[i] < 1) l_opterror(L, opts, "input_shape", "sizes must be positive integers");
            lua_pop(L, 1);
        }
    }
    if (!lua_isnoneornil(L, opts)) lua_pop(L, 1);
    Model *m = model_new((uint64_t)seed);
    if (!m) l_raise(L);
    l_pushmodel(L, m);
    if (nd > 0 && model_set_input_shape(m, nd, shape) != SN_OK) l_raise(L);
    return m;
}

static const char *const seq_opts[] = {"seed", "input_shape", NULL};

static int l_nn_sequential(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    Model *m = new_model(L, 2, seq_opts);
    int n = (int)luaL_len(L, 1);
    if (n == 0) luaL_argerror(L, 1, "no layers given");
    for (int i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        LayerDesc *d = test_layer(L, -1);
        char name[NODE_NAME_MAX];
        if (d) {
            snprintf(name, sizeof name, "%s%d", layer_kind_name(d->kind), i);
        } else if (lua_istable(L, -1)) {
            lua_geti(L, -1, 1);
            lua_geti(L, -2, 2);
            d = test_layer(L, -1);
            if (lua_type(L, -2) != LUA_TSTRING || !d)
                luaL_argerror(L, 1, lua_pushfstring(L, "entry %d must be a layer or {\"name\", layer}", i));
            snprintf(name, sizeof name, "%s", lua_tostring(L, -2));
            if (strlen(lua_tostring(L, -2)) >= NODE_NAME_MAX)
                luaL_argerror(
                    L, 1, lua_pushfstring(L, "entry %d: layer name longer than %d characters", i, NODE_NAME_MAX - 1));
        } else {
            luaL_argerror(
                L, 1,
                lua_pushfstring(L, "entry %d must be a layer or {\"name\", layer}, got %s", i, luaL_typename(L, -1)));
        }
        int in = m->nnodes - 1; /* the previous layer, MODEL_INPUT for the first */
        if (layer_ops(d->kind)->ninputs != 1)
            luaL_error(L, "nn.sequential: entry %d ('%s') is an %s layer, which needs two inputs (use nn.graph)", i,
                       name, layer_kind_name(d->kind));
        if (model_add(m, name, d->kind, &d->cfg, 1, &in) < 0) l_raise(L);
        lua_settop(L, 3);
    }
    if (model_finish(m) != SN_OK) l_raise(L);
    return 1;
}

/* ---- nn.graph ---- */

typedef struct {
    Model *m; /* NULL once built */
    int built;
} GraphBox;

static GraphBox *check_graph(lua_State *L) {
    GraphBox *g = luaL_checkudata(L, 1, GRAPH_MT);
    if (!g->m) luaL_error(L, "graph: already built (make a new nn.graph for another model)");
    return g;
}

static const char *const graph_opts[] = {"seed", "input_shape", NULL};

static int l_nn_graph(lua_State *L) {
    Model *m = new_model(L, 1, graph_opts); /* owned by the Model box for now */
    GraphBox *g = lua_newuserdatauv(L, sizeof *g, 1);
    g->m = NULL, g->built = 0;
    luaL_setmetatable(L, GRAPH_MT);
    lua_pushvalue(L, -2);
    lua_setiuservalue(L, -2, 1); /* the graph keeps the box alive until build */
    g->m = m;
    return 1;
}

static int l_graph_input(lua_State *L) {
    check_graph(L);
    lua_pushliteral(L, "input");
    return 1;
}

/* g:add(name, layer, input...) -> name. Inputs are names ("input" for the
 * model input); name may be nil for "<type><n>". */
static int l_graph_add(lua_State *L) {
    GraphBox *g = check_graph(L);
    LayerDesc *d = luaL_checkudata(L, 3, LAYER_MT);
    char name[NODE_NAME_MAX];
    if (lua_isnil(L, 2)) {
        snprintf(name, sizeof name, "%s%d", layer_kind_name(d->kind), g->m->nnodes + 1);
    } else {
        const char *s = luaL_checkstring(L, 2);
        if (strlen(s) >= NODE_NAME_MAX)
            luaL_argerror(L, 2, lua_pushfstring(L, "layer name longer than %d characters", NODE_NAME_MAX - 1));
        snprintf(name, sizeof name, "%s", s);
    }
    int nin = lua_gettop(L) - 3, inputs[NODE_MAX_INPUTS];
    if (nin > NODE_MAX_INPUTS) nin = NODE_MAX_INPUTS + 1; /* model_add reports the count */
    for (int k = 0; k < nin && k < NODE_MAX_INPUTS; k++) {
        const char *in = luaL_checkstring(L, 4 + k);
        if (strcmp(in, "input") == 0) {
            inputs[k] = MODEL_INPUT;
        } else if ((inputs[k] = model_find(g->m, in)) < 0) {
            luaL_argerror(L, 4 + k, lua_pushfstring(L, "no layer named '%s' in the graph yet", in));
        }
    }
    if (nin > NODE_MAX_INPUTS)
        return luaL_error(L, "%s '%s': takes %d input%s, got %d", layer_kind_name(d->kind), name,
                          layer_ops(d->kind)->ninputs, layer_ops(d->kind)->ninputs == 1 ? "" : "s", lua_gettop(L) - 3);
    if (model_add(g->m, name, d->kind, &d->cfg, nin, inputs) < 0) return l_raise(L);
    lua_pushstring(L, name);
    return 1;
}

static int l_graph_build(lua_State *L) {
    GraphBox *g = check_graph(L);
    const char *out = luaL_checkstring(L, 2);
    Model *m = g->m;
    if (m->nnodes == 0) return luaL_error(L, "graph: no layers added");
    if (strcmp(out, m->nodes[m->nnodes - 1].name) != 0) {
        if (model_find(m, out) < 0) return luaL_argerror(L, 2, lua_pushfstring(L, "no layer named '%s'", out));
        return luaL_error(L, "graph: the output must be the last layer added ('%s'), got '%s'",
                          m->nodes[m->nnodes - 1].name, out);
    }
    if (model_finish(m) != SN_OK) return l_raise(L);
    lua_getiuservalue(L, 1, 1); /* the Model box that owns m */
    lua_pushnil(L);
    lua_setiuservalue(L, 1, 1);
    g->m = NULL, g->built = 1;
    return 1;
}

static int l_graph_tostring(lua_State *L) {
    GraphBox *g = luaL_checkudata(L, 1, GRAPH_MT);
    if (!g->m)
        lua_pushliteral(L, "nn.graph (built)");
    else
        lua_pushfstring(L, "nn.graph (%d layers so far)", g->m->nnodes);
    return 1;
}

static const luaL_Reg graph_methods[] = {
    {"input", l_graph_input}, {"add", l_graph_add}, {"build", l_graph_build}, {NULL, NULL}};

static const luaL_Reg nn_funcs[] = {{"linear", l_nn_linear},
                                    {"conv2d", l_nn_conv2d},
                                    {"maxpool2d", l_nn_maxpool2d},
                                    {"avgpool2d", l_nn_avgpool2d},
                                    {"adaptive_avgpool2d", l_nn_adaptive_avgpool2d},
                                    {"relu", l_nn_relu},
                                    {"leaky_relu", l_nn_leaky_relu},
                                    {"tanh", l_nn_tanh},
                                    {"sigmoid", l_nn_sigmoid},
                                    {"softmax", l_nn_softmax},
                                    {"log_softmax", l_nn_log_softmax},
                                    {"flatten", l_nn_flatten},
                                    {"batchnorm1d", l_nn_batchnorm1d},
                                    {"batchnorm2d", l_nn_batchnorm2d},
                                    {"dropout", l_nn_dropout},
                                    {"add", l_nn_add},
                                    {"identity", l_nn_identity},
                                    {"sequential", l_nn_sequential},
                                    {"graph", l_nn_graph},
                                    {NULL, NULL}};

int luaopen_sanity_nn(lua_State *L) {
    luaL_newmetatable(L, LAYER_MT);
    lua_pushcfunction(L, l_layer_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushcfunction(L, l_layer_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newmetatable(L, GRAPH_MT);
    luaL_newlib(L, graph_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_graph_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);
    luaL_newlib(L, nn_funcs);
    return 1;
}
