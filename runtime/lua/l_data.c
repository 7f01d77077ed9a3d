/* l_data.c — the `data` module: Fashion-MNIST from the Debian package
 * (dataset-fashion-mnist, /usr/share/datasets/fashion-mnist, or $SANITY_DATA).
 * Decoded files are cached in the Lua state so repeated loads are free.
 * Images come back as [N,1,28,28] floats in [0,1], labels as 0-based floats. */
#include <lauxlib.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "io/datasets.h"
#include "io/idx.h"
#include "io/results.h"
#include "lua/l_util.h"
#include "lua/modules.h"

#define IDX_MT "sanity.IdxArray"
#define DEFAULT_DATA_DIR "/usr/share/datasets/fashion-mnist"

static const char *const class_names[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                          "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

static int idx_gc(lua_State *L) {
    idx_free(luaL_checkudata(L, 1, IDX_MT));
    return 0;
}

/* Returns the cached (or freshly read) IDX array for path; raises on error. */
static IdxArray *load_idx(lua_State *L, const char *path) {
    lua_getfield(L, LUA_REGISTRYINDEX, "sanity.idx_cache");
    if (lua_getfield(L, -1, path) == LUA_TUSERDATA) {
        IdxArray *a = lua_touserdata(L, -1);
        lua_pop(L, 2);
        return a;
    }
    lua_pop(L, 1);
    IdxArray *a = lua_newuserdatauv(L, sizeof(IdxArray), 0);
    memset(a, 0, sizeof *a);
    luaL_setmetatable(L, IDX_MT);
    if (idx_read(path, a) != 0) {
        const char *msg = lua_pushfstring(L, "%s", sn_errmsg());
        if (strstr(msg, "cannot open"))
            luaL_error(L, "%s (install the Debian package dataset-fashion-mnist, or set SANITY_DATA to the folder)", msg);
        l_raise(L);
    }
    lua_setfield(L, -2, path);
    lua_pop(L, 1);
    return a;
}

static const char *const fmnist_opts[] = {"split", "n", "offset", "classes", "balanced", NULL};
static const char *const splits[] = {"train", "test", NULL};

static int l_data_fashion_mnist(lua_State *L) {
    if (lua_isnoneornil(L, 1)) lua_newtable(L), lua_replace(L, 1);
    l_checkoptkeys(L, 1, fmnist_opts);
    int split = l_optchoice(L, 1, "split", "test", splits);
    DatasetSelect sel = {.n = l_optinteger(L, 1, "n", -1), .offset = l_optinteger(L, 1, "offset", 0)};
    sel.balanced = l_optbool(L, 1, "balanced", 0);
    if (sel.n < -1 || sel.n == 0) l_opterror(L, 1, "n", "must be a positive integer");
    if (sel.offset < 0) l_opterror(L, 1, "offset", "must be non-negative");
    if (lua_getfield(L, 1, "classes") != LUA_TNIL) {
        if (!lua_istable(L, -1)) l_opterror(L, 1, "classes", "array of class indices (0-9) expected");
        int k = (int)luaL_len(L, -1);
        if (k < 1 || k > 10) l_opterror(L, 1, "classes", "between 1 and 10 class indices expected");
        for (int i = 0; i < k; i++) {
            lua_geti(L, -1, i + 1);
            int ok;
            lua_Integer c = lua_tointegerx(L, -1, &ok);
            if (!ok || c < 0 || c > 9) l_opterror(L, 1, "classes", "class indices are integers 0-9 (0-based, as in PyTorch)");
            sel.classes[sel.nclasses++] = (int)c;
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);

    const char *dir = getenv("SANITY_DATA");
    if (!dir || !*dir) dir = DEFAULT_DATA_DIR;
    const char *prefix = split == 0 ? "train" : "t10k";
    const char *ipath = lua_pushfstring(L, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    const char *lpath = lua_pushfstring(L, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    IdxArray *img = load_idx(L, ipath), *lab = load_idx(L, lpath);
    if (img->ndim != 3 || lab->ndim != 1 || img->shape[0] != lab->shape[0])
        luaL_error(L, "Fashion-MNIST files in '%s' do not match: images of rank %d with %d entries, labels of rank %d with %d",
                   dir, img->ndim, (int)img->shape[0], lab->ndim, (int)lab->shape[0]);
    for (int64_t i = 0; i < lab->shape[0]; i++)
        if (lab->data[i] > 9) luaL_error(L, "'%s': label %d at index %d is not a class 0-9", lpath, lab->data[i], (int)i);

    int64_t count = lab->shape[0];
    int64_t *idx = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)count, 0);
    int64_t n = dataset_select(lab->data, count, &sel, idx);
    if (n < 0) luaL_error(L, "data.fashion_mnist{split=\"%s\"}: %s", splits[split], sn_errmsg());
    Tensor x, y;
    if (dataset_gather(img->data, lab->data, img->shape[1], img->shape[2], idx, n, &x, &y) != SN_OK) l_raise(L);
    l_pushtensor_move(L, &x);
    l_pushtensor_move(L, &y);
    return 2;
}

/* data.load_h5(path, name): a numeric dataset of any HDF5 file as a float32
 * tensor (a user's own images or labels, e.g. written with h5py). */
static int l_data_load_h5(lua_State *L) {
    const char *path = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    ResultsFile *f = NULL;
    if (results_open(&f, path, RESULTS_READ) != SN_OK) l_raise(L);
    Tensor t;
    int rc = results_read_tensor(f, name, &t);
    results_close(f, 0);
    results_free(f);
    if (rc != SN_OK) l_raise(L);
    l_pushtensor_move(L, &t);
    return 1;
}

static const luaL_Reg data_funcs[] = {{"fashion_mnist", l_data_fashion_mnist}, {"load_h5", l_data_load_h5}, {NULL, NULL}};

int luaopen_sanity_data(lua_State *L) {
    luaL_newmetatable(L, IDX_MT);
    lua_pushcfunction(L, idx_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sanity.idx_cache");
    luaL_newlib(L, data_funcs);
    lua_createtable(L, 10, 0);
    for (int i = 0; i < 10; i++) {
        lua_pushstring(L, class_names[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "fashion_mnist_classes");
    return 1;
}
