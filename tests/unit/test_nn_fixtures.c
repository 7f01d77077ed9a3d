/* test_nn_fixtures.c — sanity against PyTorch 1.13 (fixtures written by
 * scripts/fixtures/make_nn_fixtures.py): every layer case of nn_layers.h5
 * (outputs, input gradients, parameter gradients, batch-norm running
 * statistics) and the bundled architectures of scripts/sanity/models.lua
 * (built through Lua, as users build them) on nn_models.h5, to 1e-4
 * relative. */
#include <lauxlib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "fixture.h"
#include "host.h"
#include "lua/l_model.h"
#include "model.h"
#include "nn_test.h"
#include "test.h"

#define RTOL 1e-4

/* |a - b| <= RTOL |b| + atol with atol scaled to the reference's size, so
 * elements that cancel to ~0 are not held to a relative bound. */
static void expect_close(const Tensor *got, const Tensor *want, const char *what, const char *where) {
    double mx = 0;
    for (int64_t i = 0; i < tensor_numel(want); i++) mx = fmax(mx, fabs(tensor_data(want)[i]));
    double r = nt_close_ratio(got, want, RTOL, 1e-5 * fmax(mx, 1e-3));
    char a[160], b[160];
    CHECK_MSG(r <= 1, "%s %s: max deviation %.3g x tolerance (shapes %s vs %s)", where, what, r,
              tensor_shape_str(got, a, sizeof a), tensor_shape_str(want, b, sizeof b));
}

static int read_into(const char *file, const char *path, Tensor *dst) {
    Tensor t;
    if (fixture_read(file, path, &t) != SN_OK) return SN_ERR;
    int ok = tensor_numel(&t) == tensor_numel(dst);
    if (ok) memcpy(tensor_data(dst), tensor_data(&t), sizeof(float) * (size_t)tensor_numel(dst));
    tensor_release(&t);
    return ok ? SN_OK : sn_errorf("%s: size differs", path);
}

static void layer_case(const char *name) {
    const char *F = "nn_layers.h5";
    char json[8192], path[256];
    double training = 0;
    if (fixture_attr_string(F, name, "json", json, sizeof json) != SN_OK ||
        fixture_attr(F, name, "training", &training) != SN_OK) {
        CHECK_MSG(0, "%s: %s", name, sn_errmsg());
        return;
    }
    Model *m = model_from_json(json);
    CHECK_MSG(m != NULL, "%s: %s", name, sn_errmsg());
    if (!m) return;
    model_set_training(m, training != 0);
    char pname[2 * NODE_NAME_MAX];
    for (int i = 0; i < m->nnodes; i++) {
        for (int k = 0; k < m->nodes[i].nparams; k++) {
            snprintf(path, sizeof path, "%s/params/%s", name, model_param_name(m, i, k, pname, sizeof pname));
            CHECK_MSG(read_into(F, path, &m->nodes[i].param[k]) == SN_OK, "%s", sn_errmsg());
        }
        for (int k = 0; k < m->nodes[i].nbuffers; k++) {
            snprintf(path, sizeof path, "%s/buffers/%s.%s", name, m->nodes[i].name, layer_buffer_name(k));
            CHECK_MSG(read_into(F, path, &m->nodes[i].buffer[k]) == SN_OK, "%s", sn_errmsg());
        }
    }
    Tensor x, dy, y, dx, want;
    snprintf(path, sizeof path, "%s/x", name);
    fixture_read(F, path, &x);
    snprintf(path, sizeof path, "%s/dy", name);
    fixture_read(F, path, &dy);
    CHECK_MSG(model_forward(m, &x, &y, 2) == SN_OK, "%s: %s", name, sn_errmsg());
    CHECK_MSG(model_backward(m, &dy, NULL, 1, &dx, 2) == SN_OK, "%s: %s", name, sn_errmsg());
    snprintf(path, sizeof path, "%s/y", name);
    fixture_read(F, path, &want);
    expect_close(&y, &want, "output", name);
    tensor_release(&want);
    snprintf(path, sizeof path, "%s/dx", name);
    fixture_read(F, path, &want);
    expect_close(&dx, &want, "input gradient", name);
    tensor_release(&want);
    for (int i = 0; i < m->nnodes; i++) {
        for (int k = 0; k < m->nodes[i].nparams; k++) {
            snprintf(path, sizeof path, "%s/grads/%s", name, model_param_name(m, i, k, pname, sizeof pname));
            fixture_read(F, path, &want);
            expect_close(&m->nodes[i].grad[k], &want, pname, name);
            tensor_release(&want);
        }
        for (int k = 0; k < 2 && training != 0 && k < m->nodes[i].nbuffers; k++) {
            snprintf(path, sizeof path, "%s/buffers_out/%s.%s", name, m->nodes[i].name, layer_buffer_name(k));
            fixture_read(F, path, &want);
            expect_close(&m->nodes[i].buffer[k], &want, layer_buffer_name(k), name);
            tensor_release(&want);
        }
        if (training != 0 && m->nodes[i].nbuffers == 3) CHECK_NEAR(tensor_data(&m->nodes[i].buffer[2])[0], 1, 0);
    }
    tensor_release(&x), tensor_release(&dy), tensor_release(&y), tensor_release(&dx);
    model_free(m);
}

TEST(pytorch_layers) {
    char cases[4096];
    CHECK(fixture_attr_string("nn_layers.h5", "/", "cases", cases, sizeof cases) == SN_OK);
    int n = 0;
    for (char *tok = strtok(cases, ","); tok; tok = strtok(NULL, ","), n++) layer_case(tok);
    CHECK_MSG(n >= 30, "only %d layer cases", n);
}

/* ---- the bundled architectures ---- */

static uint32_t fnv1a32(const char *s) {
    uint32_t h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The weight rule of make_nn_fixtures.py's pattern_tensor(). */
static void pattern_tensor(const char *name, Tensor *t) {
    float *p = tensor_data(t);
    int64_t n = tensor_numel(t);
    uint32_t salt = fnv1a32(name);
    if (ends_with(name, "num_batches_tracked")) {
        memset(p, 0, sizeof(float) * (size_t)n);
    } else if (ends_with(name, "running_var")) {
        nt_pattern_fill(p, n, salt, 0.5f);
        for (int64_t i = 0; i < n; i++) p[i] += 1.0f;
    } else if (ends_with(name, "running_mean")) {
        nt_pattern_fill(p, n, salt, 0.2f);
    } else if (ends_with(name, "bias")) {
        nt_pattern_fill(p, n, salt, 0.1f);
    } else if (t->ndim == 1) {
        nt_pattern_fill(p, n, salt, 0.2f);
        for (int64_t i = 0; i < n; i++) p[i] += 1.0f;
    } else {
        nt_pattern_fill(p, n, salt, (float)(1.0 / sqrt((double)(n / t->shape[0]))));
    }
}

/* Builds a model with the Lua library, as a script would. */
static Model *lua_model(const char *expr) {
    char dir[4096], code[256];
    const char *root = getenv("SANITY_ROOT");
    snprintf(dir, sizeof dir, "%s/scripts", root && *root ? root : ".");
    Session s = {.nthreads = 1};
    lua_State *L = host_new(&s, dir);
    snprintf(code, sizeof code, "return require('sanity.models').%s", expr);
    Model *m = NULL;
    if (luaL_dostring(L, code) != LUA_OK)
        fprintf(stderr, "lua_model: %s\n", lua_tostring(L, -1));
    else if (l_testmodel(L, -1))
        m = model_clone(l_testmodel(L, -1));
    lua_close(L);
    return m;
}

static void model_case(const char *group, const char *expr) {
    const char *F = "nn_models.h5";
    Model *m = lua_model(expr);
    CHECK_MSG(m != NULL, "%s: could not build %s", group, expr);
    if (!m) return;
    char name[2 * NODE_NAME_MAX], path[256];
    for (int i = 0; i < m->nnodes; i++) {
        for (int k = 0; k < m->nodes[i].nparams; k++)
            pattern_tensor(model_param_name(m, i, k, name, sizeof name), &m->nodes[i].param[k]);
        for (int k = 0; k < m->nodes[i].nbuffers; k++) {
            snprintf(name, sizeof name, "%s.%s", m->nodes[i].name, layer_buffer_name(k));
            pattern_tensor(name, &m->nodes[i].buffer[k]);
        }
    }
    double training = 0;
    fixture_attr(F, group, "training", &training);
    model_set_training(m, training != 0);
    Tensor x, dy, y, dx, want, heads;
    snprintf(path, sizeof path, "%s/x", group);
    CHECK(fixture_read(F, path, &x) == SN_OK);
    snprintf(path, sizeof path, "%s/dy", group);
    CHECK(fixture_read(F, path, &dy) == SN_OK);
    CHECK_MSG(model_forward(m, &x, &y, 2) == SN_OK, "%s: %s", group, sn_errmsg());
    CHECK_MSG(model_backward(m, &dy, NULL, 1, &dx, 2) == SN_OK, "%s: %s", group, sn_errmsg());
    snprintf(path, sizeof path, "%s/y", group);
    fixture_read(F, path, &want);
    expect_close(&y, &want, "logits", group);
    tensor_release(&want);
    snprintf(path, sizeof path, "%s/dx", group);
    fixture_read(F, path, &want);
    expect_close(&dx, &want, "input gradient", group);
    tensor_release(&want);
    /* parameter gradients: the heads, in PyTorch's named_parameters order */
    char names[8192] = "";
    snprintf(path, sizeof path, "%s/grad_head", group);
    CHECK(fixture_read(F, path, &heads) == SN_OK);
    CHECK(fixture_attr_string(F, group, "grad_head_names", names, sizeof names) == SN_OK);
    int64_t off = 0;
    int seen = 0;
    for (char *tok = strtok(names, ","); tok; tok = strtok(NULL, ","), seen++) {
        char *dot = strrchr(tok, '.');
        *dot = '\0';
        int i = model_find(m, tok), k = strcmp(dot + 1, "weight") == 0 ? 0 : 1;
        CHECK_MSG(i >= 0 && k < m->nodes[i].nparams, "%s: no parameter %s.%s in sanity's model", group, tok, dot + 1);
        if (i < 0 || k >= m->nodes[i].nparams) continue;
        const Tensor *g = &m->nodes[i].grad[k];
        int64_t len = tensor_numel(g) < 500 ? tensor_numel(g) : 500;
        Tensor got, ref;
        tensor_init(&got, 1, &len), tensor_init(&ref, 1, &len);
        memcpy(tensor_data(&got), tensor_data(g), sizeof(float) * (size_t)len);
        memcpy(tensor_data(&ref), tensor_data(&heads) + off, sizeof(float) * (size_t)len);
        *dot = '.';
        expect_close(&got, &ref, tok, group);
        off += len;
        tensor_release(&got), tensor_release(&ref);
    }
    CHECK_EQ_INT(off, tensor_numel(&heads));
    int nparams = 0;
    for (int i = 0; i < m->nnodes; i++) nparams += m->nodes[i].nparams;
    CHECK_EQ_INT(seen, nparams);
    tensor_release(&x), tensor_release(&dy), tensor_release(&y), tensor_release(&dx), tensor_release(&heads);
    model_free(m);
}

TEST(pytorch_lenet) {
    model_case("lenet", "lenet{seed=0}");
}
TEST(pytorch_mlp) {
    model_case("mlp", "mlp{seed=0}");
}
TEST(pytorch_resnet8) {
    model_case("resnet8", "resnet8{seed=0}");
}
TEST(pytorch_resnet8_train_mode) {
    model_case("resnet8_train", "resnet8{seed=0}");
}
