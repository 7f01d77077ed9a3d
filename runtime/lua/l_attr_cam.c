/* l_attr_cam.c — bindings of the CAM family (attr/cam.h):
 *   attr.gradcam(model, x, target, opts) -> [N, 1, H, W]
 *     layer     name of a conv2d node (default: the last conv2d node in the
 *               model's order; for models.resnet8 that is
 *               "stage3.shortcut.conv", the 1x1 projection, at the same 7x7
 *               resolution as "stage3.conv2")
 *     relu      true: relu of the weighted sum
 *     upsample  true: bilinear to the input's H, W (align_corners=False);
 *               false: [N, 1, h, w] at the layer's resolution
 *   attr.guided_gradcam(model, x, target, opts) -> shaped like x
 *     layer, relu as above: guided backprop * upsampled Grad-CAM
 * x must be images [N, C, H, W]. Common arguments and options: l_attr.h. */
#include <string.h>

#include "attr/cam.h"
#include "error.h"
#include "lua/l_attr.h"
#include "lua/l_model.h"
#include "lua/l_util.h"

/* "conv1, conv2" of the model's conv2d nodes, pushed. */
static const char *conv_names(lua_State *L, const Model *m) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int k = 0;
    for (int i = 0; i < m->nnodes; i++) {
        if (m->nodes[i].kind != LAYER_CONV2D) continue;
        if (k++) luaL_addstring(&b, ", ");
        luaL_addstring(&b, m->nodes[i].name);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

/* Options before l_attr_args: errors leave the model untouched. */
static void cam_opts(lua_State *L, AttrCamOptions *o, int guided) {
    Model *m = l_checkmodel(L, 1);
    const Tensor *x = l_checktensor(L, 2);
    if (x->ndim != 4) {
        char s[128];
        luaL_argerror(L, 2, lua_pushfstring(L, "%s needs images [N, C, H, W], got %s", guided ? "guided_gradcam" : "gradcam",
                                            tensor_shape_str(x, s, sizeof s)));
    }
    const char *name = l_optstring(L, 4, "layer", NULL);
    o->relu = l_optbool(L, 4, "relu", 1);
    o->upsample = guided ? 1 : l_optbool(L, 4, "upsample", 1);
    if (!name) {
        o->layer = attr_cam_default_layer(m);
        if (o->layer < 0) luaL_error(L, "Grad-CAM needs a conv2d layer; the model has none");
        return;
    }
    o->layer = model_find(m, name);
    if (o->layer < 0)
        l_opterror(L, 4, "layer", lua_pushfstring(L, "no layer '%s' in the model (conv2d layers: %s)", name, conv_names(L, m)));
    if (m->nodes[o->layer].kind != LAYER_CONV2D)
        l_opterror(L, 4, "layer",
                   lua_pushfstring(L, "layer '%s' is %s, not conv2d (conv2d layers: %s)", name,
                                   layer_kind_name(m->nodes[o->layer].kind), conv_names(L, m)));
}

static const char *const gradcam_opts[] = {"layer", "relu", "upsample", NULL};
static const char *const guided_opts[] = {"layer", "relu", NULL};

/* Both bindings: options, common arguments, the call, the result. */
static int cam_call(lua_State *L, int guided) {
    AttrCamOptions o;
    cam_opts(L, &o, guided);
    AttrCall c;
    l_attr_args(L, &c, guided ? guided_opts : gradcam_opts);
    Tensor out;
    int rc = guided ? attr_guided_gradcam(&c.run, c.x, c.targets, &o, &out)
                    : attr_gradcam(&c.run, c.x, c.targets, &o, &out);
    if (rc != SN_OK) return l_attr_fail(L, &c);
    l_attr_push(L, &c, &out);
    return 1;
}

static int l_attr_gradcam(lua_State *L) {
    return cam_call(L, 0);
}

static int l_attr_guided_gradcam(lua_State *L) {
    return cam_call(L, 1);
}

const luaL_Reg l_attr_cam_funcs[] = {{"gradcam", l_attr_gradcam}, {"guided_gradcam", l_attr_guided_gradcam}, {NULL, NULL}};
