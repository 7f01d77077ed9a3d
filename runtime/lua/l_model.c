/* l_model.c — the `model` module and the sanity.Model type: forward and
 * backward passes, introspection (layers, parameters, activations,
 * gradients), clone, modes, JSON. Converts arguments and calls model.c.
 * Layer positions are 1-based here; tensors handed out share the model's
 * storage (parameters can be edited in place from Lua; activations and
 * gradients handed out are never overwritten by later passes). Building
 * models is the `nn` module's job (l_nn.c).
 *
 *   m:forward(x [, {threads}]) -> output          (x: [N, ...])
 *   m:backward(d_out [, {param_grads=true, input_grad=true, threads}]) -> d_input or nothing
 *   m:zero_grad() -> m
 *   m:layers() -> {{name, type, index, inputs={...}, params={weight={6,1,5,5}, bias={6}},
 *                   randomizable, output_shape}, ...}            (input to output)
 *   m:layer(name | index) -> {name, type, index, inputs, randomizable, <config fields>,
 *                             weight=, bias=, running_mean=, ..., grads={weight=, bias=}}
 *   m:parameters() -> {{name="conv1.weight", layer="conv1", value=, grad=}, ...}
 *   m:buffers() -> {{name="bn.running_mean", layer="bn", value=}, ...}
 *   m:activation(name | "input"), m:gradient(name | "input") -> tensor (after a pass)
 *   m:num_parameters(), #m (layers), tostring(m) / m:summary() (table)
 *   m:clone(), m:eval() / m:train([on=true]) -> m, m:training() -> bool
 *   m:reinit(name | index [, {seed=model seed, purpose="init"}]) -> m
 *   m:to_json(), m:free()  (also <close>)
 *   model.from_json(s) -> m, model.is_model(v)
 * Models start in eval mode. */
#include "lua/l_model.h"
#include "lua/l_weights.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "lua/l_util.h"
#include "lua/modules.h"

typedef struct {
    Model *m;
} ModelBox;

Model *l_testmodel(lua_State *L, int idx) {
    ModelBox *b = luaL_testudata(L, idx, MODEL_MT);
    return b ? b->m : NULL;
}

Model *l_checkmodel(lua_State *L, int idx) {
    ModelBox *b = luaL_checkudata(L, idx, MODEL_MT);
    if (!b->m) luaL_argerror(L, idx, "model has been freed");
    return b->m;
}

static size_t param_bytes(const Model *m) {
    size_t n = 0;
    for (int i = 0; i < m->nnodes; i++) {
        n += 2 * sizeof(float) * (size_t)node_num_parameters(&m->nodes[i]);
        for (int k = 0; k < m->nodes[i].nbuffers; k++)
            n += sizeof(float) * (size_t)tensor_numel(&m->nodes[i].buffer[k]);
    }
    return n;
}

void l_pushmodel(lua_State *L, Model *m) {
    ModelBox *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->m = m;
    luaL_setmetatable(L, MODEL_MT);
    l_gcdebt(L, param_bytes(m));
}

int l_checklayer(lua_State *L, const Model *m, int idx) {
    if (lua_type(L, idx) == LUA_TNUMBER) {
        lua_Integer i = luaL_checkinteger(L, idx);
        if (i < 1 || i > m->nnodes)
            luaL_argerror(L, idx,
                          lua_pushfstring(L, "layer %d out of range (the model has %d layers)", (int)i, m->nnodes));
        return (int)i - 1;
    }
    const char *name = luaL_checkstring(L, idx);
    int i = model_find(m, name);
    if (i >= 0) return i;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int k = 0; k < m->nnodes; k++) {
        if (k) luaL_addstring(&b, ", ");
        luaL_addstring(&b, m->nodes[k].name);
    }
    luaL_pushresult(&b);
    return luaL_error(L, "no layer named '%s' (layers: %s)", name, lua_tostring(L, -1));
}

/* A Lua tensor sharing t's storage; no collector debt (nothing new). */
static void push_view(lua_State *L, const Tensor *t) {
    Tensor *u = lua_newuserdatauv(L, sizeof(Tensor), 0);
    u->storage = NULL;
    luaL_setmetatable(L, TENSOR_MT);
    tensor_share(u, t);
}

static void push_shape(lua_State *L, int ndim, const int64_t *shape) {
    lua_createtable(L, ndim, 0);
    for (int i = 0; i < ndim; i++) {
        lua_pushinteger(L, shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int opt_threads(lua_State *L, int idx) {
    Session *s = l_session(L);
    lua_Integer n = l_optinteger(L, idx, "threads", s ? s->nthreads : 1);
    if (n < 1 || n > 256) l_opterror(L, idx, "threads", "must be in 1..256");
    return (int)n;
}

/* ---- passes ---- */

static const char *const forward_opts[] = {"threads", NULL};

static int l_model_forward(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    Tensor *x = l_checktensor(L, 2);
    l_checkoptkeys(L, 3, forward_opts);
    int nthreads = opt_threads(L, 3);
    /* activations the pass had to allocate anew are reported to the collector */
    Storage **before = malloc(sizeof(Storage *) * (size_t)m->nnodes);
    if (!before) return luaL_error(L, "out of memory");
    for (int i = 0; i < m->nnodes; i++) before[i] = m->nodes[i].output.storage;
    Tensor out;
    int rc = model_forward(m, x, &out, nthreads);
    size_t fresh = 0;
    for (int i = 0; rc == SN_OK && i < m->nnodes; i++)
        if (m->nodes[i].output.storage != before[i] && !layer_ops(m->nodes[i].kind)->alias)
            fresh += sizeof(float) * (size_t)tensor_numel(&m->nodes[i].output);
    free(before);
    if (rc != SN_OK) return l_raise(L);
    push_view(L, &out);
    tensor_release(&out);
    l_gcdebt(L, fresh);
    return 1;
}

static const char *const backward_opts[] = {"param_grads", "input_grad", "threads", NULL};

static int l_model_backward(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    Tensor *d = l_checktensor(L, 2);
    l_checkoptkeys(L, 3, backward_opts);
    int params = l_optbool(L, 3, "param_grads", 1), input = l_optbool(L, 3, "input_grad", 1);
    int nthreads = opt_threads(L, 3);
    Storage **before = malloc(sizeof(Storage *) * (size_t)(m->nnodes + 1));
    if (!before) return luaL_error(L, "out of memory");
    for (int i = 0; i < m->nnodes; i++) before[i] = m->nodes[i].d_output.storage;
    before[m->nnodes] = m->d_input.storage;
    Tensor dx;
    int rc = model_backward(m, d, NULL, params, input ? &dx : NULL, nthreads);
    size_t fresh = 0; /* gradients the pass had to allocate anew */
    for (int i = 0; rc == SN_OK && i <= m->nnodes; i++) {
        const Tensor *t = i < m->nnodes ? &m->nodes[i].d_output : &m->d_input;
        if (t->storage && t->storage != before[i]) fresh += sizeof(float) * (size_t)tensor_numel(t);
    }
    free(before);
    if (rc != SN_OK) return l_raise(L);
    l_gcdebt(L, fresh);
    if (!input) return 0;
    push_view(L, &dx);
    tensor_release(&dx);
    return 1;
}

static int l_model_zero_grad(lua_State *L) {
    model_zero_grad(l_checkmodel(L, 1));
    lua_settop(L, 1);
    return 1;
}

/* ---- introspection ---- */

static void push_inputs(lua_State *L, const Model *m, const Node *n) {
    lua_createtable(L, n->ninputs, 0);
    for (int k = 0; k < n->ninputs; k++) {
        lua_pushstring(L, n->inputs[k] == MODEL_INPUT ? "input" : m->nodes[n->inputs[k]].name);
        lua_rawseti(L, -2, k + 1);
    }
}

static int l_model_layers(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    lua_createtable(L, m->nnodes, 0);
    for (int i = 0; i < m->nnodes; i++) {
        const Node *n = &m->nodes[i];
        lua_createtable(L, 0, 7);
        lua_pushstring(L, n->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, layer_kind_name(n->kind));
        lua_setfield(L, -2, "type");
        lua_pushinteger(L, i + 1);
        lua_setfield(L, -2, "index");
        push_inputs(L, m, n);
        lua_setfield(L, -2, "inputs");
        lua_createtable(L, 0, n->nparams);
        for (int k = 0; k < n->nparams; k++) {
            push_shape(L, n->param[k].ndim, n->param[k].shape);
            lua_setfield(L, -2, layer_param_name(k));
        }
        lua_setfield(L, -2, "params");
        lua_pushboolean(L, model_node_randomizable(m, i));
        lua_setfield(L, -2, "randomizable");
        Shape s;
        if (model_node_shape(m, i, &s)) {
            push_shape(L, s.ndim, s.dim);
            lua_setfield(L, -2, "output_shape");
        }
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* A float config value as the shortest decimal that reads back as the same
 * float (0.2, not 0.20000000298023). */
static void push_float(lua_State *L, float f) {
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        if (strtof(buf, NULL) == f) break;
    }
    lua_pushnumber(L, strtod(buf, NULL));
}

void l_push_config_field(lua_State *L, const LayerConfig *cfg, const LayerField *f) {
    const char *p = (const char *)cfg + f->offset;
    switch (f->type) {
    case FIELD_INT:
        lua_pushinteger(L, *(const int *)p);
        break;
    case FIELD_BOOL:
        lua_pushboolean(L, *(const int *)p);
        break;
    case FIELD_FLOAT:
        push_float(L, *(const float *)p);
        break;
    case FIELD_INIT:
        lua_pushstring(L, init_kind_name(*(const InitKind *)p));
        break;
    case FIELD_PAIR: {
        int64_t v[2] = {((const int *)p)[0], ((const int *)p)[1]};
        push_shape(L, 2, v);
        break;
    }
    }
}

static void push_config(lua_State *L, const Node *n) {
    int nf;
    const LayerField *fs = layer_fields(n->kind, &nf);
    for (int i = 0; i < nf; i++) {
        l_push_config_field(L, &n->cfg, &fs[i]);
        lua_setfield(L, -2, fs[i].name);
    }
}

static int l_model_layer(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    int i = l_checklayer(L, m, 2);
    const Node *n = &m->nodes[i];
    lua_createtable(L, 0, 12);
    push_config(L, n);
    lua_pushstring(L, n->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, layer_kind_name(n->kind));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, i + 1);
    lua_setfield(L, -2, "index");
    push_inputs(L, m, n);
    lua_setfield(L, -2, "inputs");
    lua_pushboolean(L, model_node_randomizable(m, i));
    lua_setfield(L, -2, "randomizable");
    lua_createtable(L, 0, n->nparams);
    for (int k = 0; k < n->nparams; k++) {
        push_view(L, &n->param[k]);
        lua_setfield(L, -3, layer_param_name(k));
        push_view(L, &n->grad[k]);
        lua_setfield(L, -2, layer_param_name(k));
    }
    lua_setfield(L, -2, "grads");
    for (int k = 0; k < n->nbuffers; k++) {
        push_view(L, &n->buffer[k]);
        lua_setfield(L, -2, layer_buffer_name(k));
    }
    return 1;
}

static int l_model_parameters(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    lua_newtable(L);
    int idx = 0;
    char name[2 * NODE_NAME_MAX];
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nparams; k++) {
            lua_createtable(L, 0, 4);
            lua_pushstring(L, model_param_name(m, i, k, name, sizeof name));
            lua_setfield(L, -2, "name");
            lua_pushstring(L, m->nodes[i].name);
            lua_setfield(L, -2, "layer");
            push_view(L, &m->nodes[i].param[k]);
            lua_setfield(L, -2, "value");
            push_view(L, &m->nodes[i].grad[k]);
            lua_setfield(L, -2, "grad");
            lua_rawseti(L, -2, ++idx);
        }
    return 1;
}

static int l_model_buffers(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    lua_newtable(L);
    int idx = 0;
    for (int i = 0; i < m->nnodes; i++)
        for (int k = 0; k < m->nodes[i].nbuffers; k++) {
            lua_createtable(L, 0, 3);
            lua_pushfstring(L, "%s.%s", m->nodes[i].name, layer_buffer_name(k));
            lua_setfield(L, -2, "name");
            lua_pushstring(L, m->nodes[i].name);
            lua_setfield(L, -2, "layer");
            push_view(L, &m->nodes[i].buffer[k]);
            lua_setfield(L, -2, "value");
            lua_rawseti(L, -2, ++idx);
        }
    return 1;
}

static int l_model_activation(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    if (!m->has_forward) return luaL_error(L, "activation: no forward pass has run on this model");
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "input") == 0) {
        push_view(L, &m->input);
        return 1;
    }
    push_view(L, &m->nodes[l_checklayer(L, m, 2)].output);
    return 1;
}

static int l_model_gradient(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    const Tensor *t;
    const char *name;
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "input") == 0) {
        t = &m->d_input;
        name = "input";
    } else {
        int i = l_checklayer(L, m, 2);
        t = &m->nodes[i].d_output;
        name = m->nodes[i].name;
    }
    if (!t->storage)
        return luaL_error(L,
                          "gradient: no gradient at '%s' (run backward first; with input_grad=false and "
                          "param_grads=false layers that need none get none)",
                          name);
    push_view(L, t);
    return 1;
}

static int l_model_num_parameters(lua_State *L) {
    lua_pushinteger(L, model_num_parameters(l_checkmodel(L, 1)));
    return 1;
}

static int l_model_clone(lua_State *L) {
    Model *c = model_clone(l_checkmodel(L, 1));
    if (!c) return l_raise(L);
    l_pushmodel(L, c);
    return 1;
}

static int l_model_eval(lua_State *L) {
    model_set_training(l_checkmodel(L, 1), 0);
    lua_settop(L, 1);
    return 1;
}

static int l_model_train(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    model_set_training(m, lua_isnone(L, 2) ? 1 : lua_toboolean(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int l_model_training(lua_State *L) {
    lua_pushboolean(L, l_checkmodel(L, 1)->training);
    return 1;
}

static const char *const reinit_opts[] = {"seed", "purpose", NULL};

static int l_model_reinit(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    int i = l_checklayer(L, m, 2);
    l_checkoptkeys(L, 3, reinit_opts);
    lua_Integer seed = l_optinteger(L, 3, "seed", (lua_Integer)m->seed);
    if (seed < 0) l_opterror(L, 3, "seed", "must be non-negative");
    const char *purpose = l_optstring(L, 3, "purpose", "init");
    model_init_node(m, i, (uint64_t)seed, purpose);
    lua_settop(L, 1);
    return 1;
}

/* Pushes a malloc'd string from C and frees it; NULL raises the C error. */
static int push_owned_string(lua_State *L, char *s) {
    if (!s) return l_raise(L);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int l_model_to_json(lua_State *L) {
    return push_owned_string(L, model_to_json(l_checkmodel(L, 1)));
}

static int l_model_tostring(lua_State *L) {
    ModelBox *b = luaL_checkudata(L, 1, MODEL_MT);
    if (!b->m) {
        lua_pushliteral(L, "model (freed)");
        return 1;
    }
    return push_owned_string(L, model_summary(b->m));
}

static int l_model_len(lua_State *L) {
    lua_pushinteger(L, l_checkmodel(L, 1)->nnodes);
    return 1;
}

static int l_model_free(lua_State *L) {
    ModelBox *b = luaL_checkudata(L, 1, MODEL_MT);
    model_free(b->m);
    b->m = NULL;
    return 0;
}

/* ---- module functions ---- */

static int l_model_from_json(lua_State *L) {
    Model *m = model_from_json(luaL_checkstring(L, 1));
    if (!m) return l_raise(L);
    l_pushmodel(L, m);
    return 1;
}

static int l_model_is_model(lua_State *L) {
    lua_pushboolean(L, l_testmodel(L, 1) != NULL);
    return 1;
}

static const luaL_Reg model_methods[] = {{"forward", l_model_forward},
                                         {"backward", l_model_backward},
                                         {"zero_grad", l_model_zero_grad},
                                         {"layers", l_model_layers},
                                         {"layer", l_model_layer},
                                         {"parameters", l_model_parameters},
                                         {"buffers", l_model_buffers},
                                         {"activation", l_model_activation},
                                         {"gradient", l_model_gradient},
                                         {"num_parameters", l_model_num_parameters},
                                         {"clone", l_model_clone},
                                         {"eval", l_model_eval},
                                         {"train", l_model_train},
                                         {"training", l_model_training},
                                         {"reinit", l_model_reinit},
                                         {"to_json", l_model_to_json},
                                         {"summary", l_model_tostring},
                                         {"free", l_model_free},
                                         {NULL, NULL}};

static const luaL_Reg model_meta[] = {{"__tostring", l_model_tostring},
                                      {"__len", l_model_len},
                                      {"__gc", l_model_free},
                                      {"__close", l_model_free},
                                      {NULL, NULL}};

static const luaL_Reg model_funcs[] = {{"from_json", l_model_from_json}, {"is_model", l_model_is_model}, {NULL, NULL}};

int luaopen_sanity_model(lua_State *L) {
    luaL_newmetatable(L, MODEL_MT);
    luaL_setfuncs(L, model_meta, 0);
    luaL_newlib(L, model_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, model_funcs);
    l_weights_register(L); /* model.load, m:save, ... (l_weights.c) */
    return 1;
}
