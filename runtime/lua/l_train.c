/* l_train.c — the `train` module: fitting a model with mini-batch SGD/Adam
 * (train.fit), evaluation, the loss, optimizer objects for hand-written
 * loops, schedules and label permutation. Argument checks and the progress
 * display (stderr) live here; the arithmetic is in train.c.
 *
 *   train.fit(m, x, y [, opts]) -> history
 *     opts: epochs=1, batch_size=64, optimizer="adam"|"sgd"|"adamw", lr
 *     (0.001 Adam(W), 0.01 SGD), momentum=0, nesterov=false, dampening=0,
 *     weight_decay (0; AdamW 0.01), beta1=0.9, beta2=0.999, eps=1e-8,
 *     schedule="none"|"step"|"cosine", step_size=1, gamma=0.1, lr_min=0,
 *     seed=run seed, shuffle=true, drop_last=false, x_val=, y_val=,
 *     label_permutation=false, threads=, progress=true,
 *     on_epoch=function(epoch, stats) (return false to stop)
 *     history: {loss, accuracy, lr, time, [val_loss, val_accuracy]} arrays
 *     indexed by epoch, and epochs (run), seed, label_permutation
 *   train.evaluate(m, x, y [, {batch_size=256, threads=}]) -> accuracy, loss
 *   train.cross_entropy(logits, y) -> loss, dlogits
 *   train.optimizer(m [, opts]) -> opt; opt:step([lr]), opt:lr([new]),
 *     opt:steps(), opt:free()       (optimizer options as in fit)
 *   train.schedule_lr(opts, epoch) -> lr    (epoch 1-based)
 *   train.permute_labels(y [, {seed=}]) -> y permuted
 * Labels: 0-based class indices in a float tensor [N]. */
#include <lauxlib.h>
#include <lua.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "lua/l_model.h"
#include "lua/l_util.h"
#include "lua/modules.h"
#include "train.h"

#define OPTIM_MT "sanity.Optimizer"

static const char *const optim_choices[] = {"sgd", "adam", "adamw", NULL};
static const char *const schedule_choices[] = {"none", "step", "cosine", NULL};

static int opt_threads(lua_State *L, int idx) {
    Session *s = l_session(L);
    lua_Integer n = l_optinteger(L, idx, "threads", s ? s->nthreads : 1);
    if (n < 1 || n > 256) l_opterror(L, idx, "threads", "must be in 1..256");
    return (int)n;
}

/* Optimizer options of fit and train.optimizer. */
static void read_optim(lua_State *L, int idx, OptimConfig *c) {
    int kind = l_optchoice(L, idx, "optimizer", "adam", optim_choices);
    optim_config_default(c, (OptimKind)kind);
    c->lr = l_optnumber(L, idx, "lr", c->lr);
    c->weight_decay = l_optnumber(L, idx, "weight_decay", c->weight_decay);
    c->momentum = l_optnumber(L, idx, "momentum", c->momentum);
    c->dampening = l_optnumber(L, idx, "dampening", c->dampening);
    c->nesterov = l_optbool(L, idx, "nesterov", 0);
    c->beta1 = l_optnumber(L, idx, "beta1", c->beta1);
    c->beta2 = l_optnumber(L, idx, "beta2", c->beta2);
    c->eps = l_optnumber(L, idx, "eps", c->eps);
    if (kind != OPTIM_SGD) {
        static const char *const sgd_only[] = {"momentum", "dampening", "nesterov", NULL};
        for (int i = 0; sgd_only[i]; i++) {
            int t = lua_getfield(L, idx, sgd_only[i]);
            lua_pop(L, 1);
            if (t != LUA_TNIL)
                l_opterror(L, idx, sgd_only[i],
                           lua_pushfstring(L, "is an SGD option (optimizer is '%s')", optim_choices[kind]));
        }
    }
    if (optim_check(c) != SN_OK) l_opterror(L, idx, "optimizer", sn_errmsg());
}

static void read_schedule(lua_State *L, int idx, Schedule *s, double lr, lua_Integer epochs) {
    s->kind = (ScheduleKind)l_optchoice(L, idx, "schedule", "none", schedule_choices);
    s->lr = lr;
    s->step_size = l_optinteger(L, idx, "step_size", 1);
    s->gamma = l_optnumber(L, idx, "gamma", 0.1);
    s->lr_min = l_optnumber(L, idx, "lr_min", 0);
    s->epochs = epochs;
    if (s->step_size < 1) l_opterror(L, idx, "step_size", "must be a positive integer");
    if (!(s->gamma > 0 && isfinite(s->gamma))) l_opterror(L, idx, "gamma", "must be a positive number");
    if (!(s->lr_min >= 0 && s->lr_min <= lr)) l_opterror(L, idx, "lr_min", "must be in [0, lr]");
}

/* Labels y for x: a 1-d tensor of x's batch size. */
static void check_xy(lua_State *L, const Tensor *x, const Tensor *y, int xarg, int yarg) {
    char a[160], b[160];
    if (x->ndim < 2)
        luaL_argerror(L, xarg,
                      lua_pushfstring(L, "inputs [N, ...] expected, got %s", tensor_shape_str(x, a, sizeof a)));
    if (y->ndim != 1 || y->shape[0] != x->shape[0])
        luaL_argerror(L, yarg,
                      lua_pushfstring(L, "labels [N] for inputs %s expected, got %s", tensor_shape_str(x, a, sizeof a),
                                      tensor_shape_str(y, b, sizeof b)));
    if (x->shape[0] < 1) luaL_argerror(L, xarg, "no samples (N = 0)");
}

/* The number of classes m outputs: from build-time shapes, else from an
 * eval forward of one sample of x. */
static int64_t model_classes(lua_State *L, Model *m, const Tensor *x, int nthreads) {
    Shape s;
    if (!model_node_shape(m, m->nnodes - 1, &s)) {
        Tensor one = {0}, out = {0};
        int was = m->training;
        model_set_training(m, 0);
        int rc = tensor_narrow(&one, x, 0, 1);
        if (rc == SN_OK) rc = model_forward(m, &one, &out, nthreads);
        model_set_training(m, was);
        tensor_release(&one);
        if (rc != SN_OK) l_raise(L);
        s = shape_of(&out); /* drop the batch dimension */
        s.ndim = s.ndim > 0 ? s.ndim - 1 : 0;
        memmove(s.dim, s.dim + 1, sizeof(int64_t) * (size_t)s.ndim);
        tensor_release(&out);
    }
    if (s.ndim != 1) {
        char buf[160];
        luaL_error(L, "the model's output has per-sample shape %s; training and evaluation need logits [N, classes]",
                   shape_fmt(&s, buf, sizeof buf));
    }
    return s.dim[0];
}

static void check_labels(lua_State *L, const Tensor *y, int64_t k, int arg) {
    if (train_check_labels(tensor_data(y), y->shape[0], k) != SN_OK)
        luaL_argerror(L, arg, lua_pushfstring(L, "%s (the model has %d outputs)", sn_errmsg(), (int)k));
}

/* ---- progress ---- */

typedef struct {
    int tty, show;
    int64_t epoch, epochs;
    double t0, last;
} Progress;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void progress_batch(void *ctx, int64_t done, int64_t total, double loss, double acc) {
    Progress *p = ctx;
    double t = now();
    if (!p->show || !p->tty || (done < total && t - p->last < 0.1)) return;
    p->last = t;
    char bar[31];
    int fill = (int)(30 * done / total);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
    bar[30] = '\0';
    double el = t - p->t0, eta = done > 0 ? el * (double)(total - done) / (double)done : 0;
    fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  loss %.4f  acc %.2f%%  %.0fs eta %.0fs",
            (long long)p->epoch, (long long)p->epochs, bar, (long long)done, (long long)total, loss, 100 * acc, el,
            eta);
    fflush(stderr);
}

static void progress_epoch(Progress *p, const EpochStats *tr, const EpochStats *val, double lr, double secs) {
    if (!p->show) return;
    char v[96] = "";
    if (val) snprintf(v, sizeof v, "  val_loss %.4f  val_acc %.2f%%", val->loss, 100 * val->accuracy);
    fprintf(stderr, "%sepoch %lld/%lld  loss %.4f  acc %.2f%%%s  lr %.4g  %.1fs\n", p->tty ? "\r\033[K" : "",
            (long long)p->epoch, (long long)p->epochs, tr->loss, 100 * tr->accuracy, v, lr, secs);
    fflush(stderr);
}

/* ---- fit ---- */

static const char *const fit_opts[] = {
    "epochs",       "batch_size", "optimizer", "lr",        "momentum", "nesterov",  "dampening",
    "weight_decay", "beta1",      "beta2",     "eps",       "schedule", "step_size", "gamma",
    "lr_min",       "seed",       "shuffle",   "drop_last", "x_val",    "y_val",     "label_permutation",
    "threads",      "progress",   "on_epoch",  NULL};

/* history[key][e] = v */
static void set_hist(lua_State *L, int hist, const char *key, lua_Integer e, double v) {
    lua_getfield(L, hist, key);
    lua_pushnumber(L, v);
    lua_rawseti(L, -2, e);
    lua_pop(L, 1);
}

typedef struct {
    Optimizer *o;
} OptimBox;

static int l_optim_gc(lua_State *L) {
    OptimBox *b = luaL_checkudata(L, 1, OPTIM_MT);
    optim_free(b->o);
    b->o = NULL;
    return 0;
}

static int l_train_fit(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    Tensor *x = l_checktensor(L, 2), *y = l_checktensor(L, 3);
    lua_settop(L, 4);
    if (lua_isnil(L, 4)) lua_newtable(L), lua_replace(L, 4);
    l_checkoptkeys(L, 4, fit_opts);
    check_xy(L, x, y, 2, 3);
    lua_Integer epochs = l_optinteger(L, 4, "epochs", 1), bs = l_optinteger(L, 4, "batch_size", 64);
    if (epochs < 0 || epochs > 1000000) l_opterror(L, 4, "epochs", "must be in 0..1000000");
    if (bs < 1 || bs > 1 << 24) l_opterror(L, 4, "batch_size", "must be a positive integer");
    OptimConfig oc;
    read_optim(L, 4, &oc);
    Schedule sched;
    read_schedule(L, 4, &sched, oc.lr, epochs);
    TrainConfig tc = {bs, l_optbool(L, 4, "drop_last", 0), l_optseed(L, 4), l_optbool(L, 4, "shuffle", 1),
                      opt_threads(L, 4)};
    if (tc.drop_last && x->shape[0] < bs) l_opterror(L, 4, "drop_last", "leaves no batch: batch_size exceeds N");
    int permute = l_optbool(L, 4, "label_permutation", 0);
    Session *sess = l_session(L);
    Progress pr = {isatty(2), l_optbool(L, 4, "progress", 1) && !(sess && sess->quiet), 0, epochs, 0, 0};
    int tv = lua_getfield(L, 4, "x_val"), tyv = lua_getfield(L, 4, "y_val");
    lua_pop(L, 2);
    if ((tv == LUA_TNIL) != (tyv == LUA_TNIL))
        l_opterror(L, 4, tv == LUA_TNIL ? "x_val" : "y_val", "x_val and y_val go together");
    Tensor *xv = NULL, *yv = NULL;
    if (tv != LUA_TNIL) {
        lua_getfield(L, 4, "x_val");
        xv = l_testtensor(L, -1);
        lua_getfield(L, 4, "y_val");
        yv = l_testtensor(L, -1);
        lua_pop(L, 2); /* still referenced by the option table */
        if (!xv || !xv->storage) l_opterror(L, 4, "x_val", "tensor expected");
        if (!yv || !yv->storage) l_opterror(L, 4, "y_val", "tensor expected");
        check_xy(L, xv, yv, 4, 4);
    }
    int cb = lua_getfield(L, 4, "on_epoch");
    lua_pop(L, 1);
    if (cb != LUA_TNIL && cb != LUA_TFUNCTION) l_opterror(L, 4, "on_epoch", "function expected");
    int64_t k = model_classes(L, m, x, tc.nthreads);
    check_labels(L, y, k, 3);
    if (yv) check_labels(L, yv, k, 4);

    /* labels actually trained on: y, or y permuted (kept alive at index 5) */
    const float *labels = tensor_data(y);
    if (permute) {
        Tensor *py = l_pushtensor(L, 1, y->shape);
        if (train_permute_labels(tensor_data(y), y->shape[0], tc.seed, tensor_data(py)) != SN_OK) l_raise(L);
        labels = tensor_data(py);
    } else {
        lua_pushnil(L);
    }
    /* the optimizer in a userdata, so an error anywhere frees it */
    OptimBox *ob = lua_newuserdatauv(L, sizeof *ob, 0); /* index 6 */
    ob->o = NULL;
    luaL_setmetatable(L, OPTIM_MT);
    if (!(ob->o = optim_new(m, &oc))) l_raise(L);

    lua_createtable(L, 0, 10); /* history, index 7 */
    int hist = lua_gettop(L);
    const char *keys[] = {"loss", "accuracy", "lr", "time", xv ? "val_loss" : NULL, xv ? "val_accuracy" : NULL};
    for (int i = 0; i < 6; i++)
        if (keys[i]) lua_createtable(L, (int)epochs, 0), lua_setfield(L, hist, keys[i]);
    lua_pushinteger(L, (lua_Integer)tc.seed);
    lua_setfield(L, hist, "seed");
    lua_pushboolean(L, permute);
    lua_setfield(L, hist, "label_permutation");

    int was_training = m->training;
    lua_Integer done = 0;
    for (lua_Integer e = 0; e < epochs; e++) {
        double lr = train_schedule_lr(&sched, e), t0 = now();
        EpochStats st, vs;
        pr.epoch = e + 1, pr.t0 = t0, pr.last = 0;
        if (train_epoch(m, ob->o, x, labels, &tc, e, lr, progress_batch, &pr, &st) != SN_OK) {
            model_set_training(m, was_training);
            return l_raise(L);
        }
        if (xv && train_evaluate(m, xv, tensor_data(yv), 256, tc.nthreads, &vs) != SN_OK) {
            model_set_training(m, was_training);
            return l_raise(L);
        }
        double secs = now() - t0;
        done = e + 1;
        set_hist(L, hist, "loss", done, st.loss);
        set_hist(L, hist, "accuracy", done, st.accuracy);
        set_hist(L, hist, "lr", done, lr);
        set_hist(L, hist, "time", done, secs);
        if (xv) set_hist(L, hist, "val_loss", done, vs.loss), set_hist(L, hist, "val_accuracy", done, vs.accuracy);
        progress_epoch(&pr, &st, xv ? &vs : NULL, lr, secs);
        if (cb == LUA_TFUNCTION) {
            model_set_training(m, was_training); /* the callback may evaluate or save */
            lua_getfield(L, 4, "on_epoch");
            lua_pushinteger(L, done);
            lua_createtable(L, 0, 6);
            lua_pushnumber(L, st.loss), lua_setfield(L, -2, "loss");
            lua_pushnumber(L, st.accuracy), lua_setfield(L, -2, "accuracy");
            lua_pushnumber(L, lr), lua_setfield(L, -2, "lr");
            lua_pushnumber(L, secs), lua_setfield(L, -2, "time");
            if (xv) {
                lua_pushnumber(L, vs.loss), lua_setfield(L, -2, "val_loss");
                lua_pushnumber(L, vs.accuracy), lua_setfield(L, -2, "val_accuracy");
            }
            lua_call(L, 2, 1);
            int stop = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
            lua_pop(L, 1);
            if (stop) break;
        }
    }
    model_set_training(m, was_training);
    lua_pushinteger(L, done);
    lua_setfield(L, hist, "epochs");
    optim_free(ob->o);
    ob->o = NULL;
    lua_settop(L, hist);
    return 1;
}

/* ---- evaluate, loss ---- */

static const char *const eval_opts[] = {"batch_size", "threads", NULL};

static int l_train_evaluate(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    Tensor *x = l_checktensor(L, 2), *y = l_checktensor(L, 3);
    l_checkoptkeys(L, 4, eval_opts);
    check_xy(L, x, y, 2, 3);
    lua_Integer bs = l_optinteger(L, 4, "batch_size", 256);
    if (bs < 1) l_opterror(L, 4, "batch_size", "must be a positive integer");
    int nthreads = opt_threads(L, 4);
    check_labels(L, y, model_classes(L, m, x, nthreads), 3);
    EpochStats st;
    if (train_evaluate(m, x, tensor_data(y), bs, nthreads, &st) != SN_OK) return l_raise(L);
    lua_pushnumber(L, st.accuracy);
    lua_pushnumber(L, st.loss);
    return 2;
}

static int l_train_cross_entropy(lua_State *L) {
    Tensor *z = l_checktensor(L, 1), *y = l_checktensor(L, 2);
    char a[160], b[160];
    if (z->ndim != 2 || z->shape[1] < 1)
        luaL_argerror(L, 1,
                      lua_pushfstring(L, "logits [N, classes] expected, got %s", tensor_shape_str(z, a, sizeof a)));
    if (y->ndim != 1 || y->shape[0] != z->shape[0])
        luaL_argerror(L, 2,
                      lua_pushfstring(L, "labels [N] for logits %s expected, got %s", tensor_shape_str(z, a, sizeof a),
                                      tensor_shape_str(y, b, sizeof b)));
    check_labels(L, y, z->shape[1], 2);
    Tensor *dz = l_pushtensor(L, 2, z->shape);
    double loss;
    train_cross_entropy(z, tensor_data(y), &loss, NULL, dz);
    lua_pushnumber(L, loss);
    lua_insert(L, -2);
    return 2;
}

/* ---- optimizer objects ---- */

static const char *const optim_opts[] = {"optimizer",    "lr",    "momentum", "nesterov", "dampening",
                                         "weight_decay", "beta1", "beta2",    "eps",      NULL};

static OptimBox *check_optim(lua_State *L, int idx) {
    OptimBox *b = luaL_checkudata(L, idx, OPTIM_MT);
    if (!b->o) luaL_argerror(L, idx, "optimizer has been freed");
    return b;
}

static int l_train_optimizer(lua_State *L) {
    Model *m = l_checkmodel(L, 1);
    l_checkoptkeys(L, 2, optim_opts);
    OptimConfig c;
    lua_settop(L, 2);
    if (lua_isnil(L, 2)) lua_newtable(L), lua_replace(L, 2);
    read_optim(L, 2, &c);
    OptimBox *b = lua_newuserdatauv(L, sizeof *b, 1);
    b->o = NULL;
    luaL_setmetatable(L, OPTIM_MT);
    if (!(b->o = optim_new(m, &c))) return l_raise(L);
    lua_pushvalue(L, 1); /* the optimizer keeps its model alive */
    lua_setiuservalue(L, -2, 1);
    return 1;
}

/* opt:step([lr]): one update from the model's accumulated gradients. */
static int l_optim_step(lua_State *L) {
    OptimBox *b = check_optim(L, 1);
    double lr = luaL_optnumber(L, 2, b->o->cfg.lr);
    luaL_argcheck(L, lr >= 0 && isfinite(lr), 2, "learning rate must be a non-negative number");
    lua_getiuservalue(L, 1, 1);
    Model *m = l_checkmodel(L, -1);
    if (optim_check_model(b->o, m) != SN_OK) return l_raise(L);
    optim_step(b->o, m, lr);
    lua_settop(L, 1);
    return 1;
}

static int l_optim_lr(lua_State *L) {
    OptimBox *b = check_optim(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        double lr = luaL_checknumber(L, 2);
        luaL_argcheck(L, lr >= 0 && isfinite(lr), 2, "learning rate must be a non-negative number");
        b->o->cfg.lr = lr;
    }
    lua_pushnumber(L, b->o->cfg.lr);
    return 1;
}

static int l_optim_steps(lua_State *L) {
    lua_pushinteger(L, (lua_Integer)check_optim(L, 1)->o->steps);
    return 1;
}

static int l_optim_tostring(lua_State *L) {
    OptimBox *b = luaL_checkudata(L, 1, OPTIM_MT);
    if (!b->o) return lua_pushliteral(L, "optimizer (freed)"), 1;
    lua_pushfstring(L, "optimizer %s (lr %f, %d parameter tensors, %d steps)", optim_kind_name(b->o->cfg.kind),
                    b->o->cfg.lr, b->o->nslots, (int)b->o->steps);
    return 1;
}

/* ---- schedules, labels ---- */

static const char *const sched_opts[] = {"lr", "schedule", "step_size", "gamma", "lr_min", "epochs", NULL};

static int l_train_schedule_lr(lua_State *L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    l_checkoptkeys(L, 1, sched_opts);
    lua_Integer e = luaL_checkinteger(L, 2);
    luaL_argcheck(L, e >= 1, 2, "epochs are numbered from 1");
    double lr = l_optnumber(L, 1, "lr", 0.01);
    if (!(lr >= 0)) l_opterror(L, 1, "lr", "must be non-negative");
    lua_Integer epochs = l_optinteger(L, 1, "epochs", 1);
    if (epochs < 1) l_opterror(L, 1, "epochs", "must be a positive integer");
    Schedule s;
    read_schedule(L, 1, &s, lr, epochs);
    lua_pushnumber(L, train_schedule_lr(&s, e - 1));
    return 1;
}

static const char *const perm_opts[] = {"seed", NULL};

static int l_train_permute_labels(lua_State *L) {
    Tensor *y = l_checktensor(L, 1);
    l_checkoptkeys(L, 2, perm_opts);
    if (y->ndim != 1) luaL_argerror(L, 1, "labels [N] expected");
    uint64_t seed = l_optseed(L, 2);
    Tensor *out = l_pushtensor(L, 1, y->shape);
    if (train_permute_labels(tensor_data(y), y->shape[0], seed, tensor_data(out)) != SN_OK) return l_raise(L);
    return 1;
}

static const luaL_Reg optim_methods[] = {
    {"step", l_optim_step}, {"lr", l_optim_lr}, {"steps", l_optim_steps}, {"free", l_optim_gc}, {NULL, NULL}};

static const luaL_Reg optim_meta[] = {
    {"__gc", l_optim_gc}, {"__close", l_optim_gc}, {"__tostring", l_optim_tostring}, {NULL, NULL}};

static const luaL_Reg train_funcs[] = {{"fit", l_train_fit},
                                       {"evaluate", l_train_evaluate},
                                       {"cross_entropy", l_train_cross_entropy},
                                       {"optimizer", l_train_optimizer},
                                       {"schedule_lr", l_train_schedule_lr},
                                       {"permute_labels", l_train_permute_labels},
                                       {NULL, NULL}};

int luaopen_sanity_train(lua_State *L) {
    luaL_newmetatable(L, OPTIM_MT);
    luaL_setfuncs(L, optim_meta, 0);
    luaL_newlib(L, optim_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, train_funcs);
    return 1;
}
