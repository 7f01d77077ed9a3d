/* segment.c — grid and SLIC segmentations, id compaction (segment.h).
 * SLIC follows Achanta et al. 2012 (grid seeds moved to the lowest gradient
 * of their 3x3 neighbourhood, k-means limited to a 2S x 2S window, then
 * connectivity enforcement as in their EnforceLabelConnectivity); it does
 * not convert colours to Lab and has no smoothing. Sizes are validated by
 * the caller (binding). */
#include "attr/segment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "parallel.h"

int64_t segment_grid(int64_t h, int64_t w, int64_t ch, int64_t cw, int32_t *labels) {
    int64_t gx = (w + cw - 1) / cw, gy = (h + ch - 1) / ch;
    for (int64_t y = 0; y < h; y++)
        for (int64_t x = 0; x < w; x++) labels[y * w + x] = (int32_t)((y / ch) * gx + x / cw);
    return gx * gy;
}

/* Squared colour gradient at an interior pixel (Achanta's seed criterion). */
static double gradient2(const float *img, int64_t c, int64_t h, int64_t w, int64_t y, int64_t x) {
    double g = 0;
    for (int64_t k = 0; k < c; k++) {
        const float *p = img + k * h * w;
        double dy = (double)p[(y + 1) * w + x] - p[(y - 1) * w + x];
        double dx = (double)p[y * w + x + 1] - p[y * w + x - 1];
        g += dy * dy + dx * dx;
    }
    return g;
}

/* Distance of pixel (y, x) (colour col[k] = img[k][p]) to centre cen = {y, x, colour...}. */
static double slic_dist(const double *cen, const float *img, int64_t c, int64_t hw, int64_t y, int64_t x, int64_t p,
                        double inv_m2, double inv_s2) {
    double dc = 0;
    for (int64_t k = 0; k < c; k++) {
        double d = (double)img[k * hw + p] - cen[2 + k];
        dc += d * d;
    }
    double dy = (double)y - cen[0], dx = (double)x - cen[1];
    return dc * inv_m2 + (dy * dy + dx * dx) * inv_s2;
}

/* Relabels 4-connected components of `labels` in raster order; components
 * smaller than min_size join the segment of an already relabelled
 * neighbour of their first pixel (so the union stays connected). */
static int64_t enforce_connectivity(int32_t *labels, int64_t h, int64_t w, int64_t min_size, int32_t *nl,
                                    int32_t *queue) {
    int64_t hw = h * w;
    int32_t next = 0;
    for (int64_t i = 0; i < hw; i++) nl[i] = -1;
    for (int64_t p = 0; p < hw; p++) {
        if (nl[p] >= 0) continue;
        int64_t y = p / w, x = p % w;
        int32_t adj = -1;
        if (y > 0 && nl[p - w] >= 0)
            adj = nl[p - w];
        else if (x > 0 && nl[p - 1] >= 0)
            adj = nl[p - 1];
        else if (x + 1 < w && nl[p + 1] >= 0)
            adj = nl[p + 1];
        else if (y + 1 < h && nl[p + w] >= 0)
            adj = nl[p + w];
        int64_t head = 0, tail = 0;
        nl[p] = next;
        queue[tail++] = (int32_t)p;
        while (head < tail) {
            int64_t q = queue[head++], qy = q / w, qx = q % w;
            int64_t nb[4] = {qy > 0 ? q - w : -1, qx > 0 ? q - 1 : -1, qx + 1 < w ? q + 1 : -1,
                             qy + 1 < h ? q + w : -1};
            for (int k = 0; k < 4; k++) {
                int64_t r = nb[k];
                if (r >= 0 && nl[r] < 0 && labels[r] == labels[p]) {
                    nl[r] = next;
                    queue[tail++] = (int32_t)r;
                }
            }
        }
        if (tail < min_size && adj >= 0) {
            for (int64_t k = 0; k < tail; k++) nl[queue[k]] = adj;
        } else {
            next++;
        }
    }
    memcpy(labels, nl, sizeof(int32_t) * (size_t)hw);
    return next;
}

/* Consecutive labels in raster order of first pixel (no connectivity). */
static int64_t relabel_raster(int32_t *labels, int64_t hw, int64_t k, int32_t *map) {
    int32_t next = 0;
    for (int64_t i = 0; i < k; i++) map[i] = -1;
    for (int64_t p = 0; p < hw; p++) {
        if (map[labels[p]] < 0) map[labels[p]] = next++;
        labels[p] = map[labels[p]];
    }
    return next;
}

int segment_slic(const float *img, int64_t c, int64_t h, int64_t w, const SlicOptions *o, int32_t *labels,
                 int64_t *count) {
    int64_t hw = h * w;
    double S = sqrt((double)hw / (double)o->n_segments);
    int64_t ny = llround((double)h / S), nx = llround((double)w / S);
    ny = ny < 1 ? 1 : ny > h ? h : ny;
    nx = nx < 1 ? 1 : nx > w ? w : nx;
    int64_t k = ny * nx, stride = 2 + c;
    double sy = (double)h / (double)ny, sx = (double)w / (double)nx;
    double *cen = malloc(sizeof(double) * (size_t)(k * stride));
    double *sum = malloc(sizeof(double) * (size_t)(k * stride));
    double *dist = malloc(sizeof(double) * (size_t)hw);
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)k);
    int32_t *prev = malloc(sizeof(int32_t) * (size_t)hw);
    int32_t *queue = malloc(sizeof(int32_t) * (size_t)(hw > k ? hw : k));
    int rc = SN_OK;
    if (!cen || !sum || !dist || !cnt || !prev || !queue) {
        rc = sn_errorf("out of memory in SLIC (%lld x %lld image)", (long long)h, (long long)w);
        goto done;
    }

    /* seeds: centres of a ny x nx grid, moved to the lowest gradient of their 3x3 neighbourhood */
    for (int64_t i = 0; i < ny; i++)
        for (int64_t j = 0; j < nx; j++) {
            int64_t cy = (int64_t)((i + 0.5) * sy), cx = (int64_t)((j + 0.5) * sx), by = cy, bx = cx;
            if (h >= 3 && w >= 3) {
                double best = INFINITY;
                for (int64_t y = cy - 1; y <= cy + 1; y++)
                    for (int64_t x = cx - 1; x <= cx + 1; x++) {
                        if (y < 1 || y > h - 2 || x < 1 || x > w - 2) continue;
                        double g = gradient2(img, c, h, w, y, x);
                        if (g < best) best = g, by = y, bx = x;
                    }
            }
            double *ce = cen + (i * nx + j) * stride;
            ce[0] = (double)by, ce[1] = (double)bx;
            for (int64_t q = 0; q < c; q++) ce[2 + q] = img[q * hw + by * w + bx];
        }

    double m = o->compactness, inv_m2 = 1.0 / (m * m), inv_s2 = 1.0 / (S * S);
    int64_t R = (int64_t)ceil(sy > sx ? sy : sx);
    for (int64_t p = 0; p < hw; p++) labels[p] = -1;
    for (int it = 0; it < o->max_iter; it++) {
        memcpy(prev, labels, sizeof(int32_t) * (size_t)hw);
        for (int64_t p = 0; p < hw; p++) dist[p] = INFINITY, labels[p] = -1;
        for (int64_t q = 0; q < k; q++) {
            const double *ce = cen + q * stride;
            int64_t y0 = (int64_t)floor(ce[0]) - R, y1 = (int64_t)ceil(ce[0]) + R;
            int64_t x0 = (int64_t)floor(ce[1]) - R, x1 = (int64_t)ceil(ce[1]) + R;
            if (y0 < 0) y0 = 0;
            if (x0 < 0) x0 = 0;
            if (y1 > h - 1) y1 = h - 1;
            if (x1 > w - 1) x1 = w - 1;
            for (int64_t y = y0; y <= y1; y++)
                for (int64_t x = x0; x <= x1; x++) {
                    int64_t p = y * w + x;
                    double d = slic_dist(ce, img, c, hw, y, x, p, inv_m2, inv_s2);
                    if (d < dist[p]) dist[p] = d, labels[p] = (int32_t)q;
                }
        }
        /* pixels no window reached (centres drifted): nearest centre overall */
        for (int64_t p = 0; p < hw; p++) {
            if (labels[p] >= 0) continue;
            for (int64_t q = 0; q < k; q++) {
                double d = slic_dist(cen + q * stride, img, c, hw, p / w, p % w, p, inv_m2, inv_s2);
                if (d < dist[p]) dist[p] = d, labels[p] = (int32_t)q;
            }
        }
        int changed = 0;
        for (int64_t p = 0; p < hw && !changed; p++) changed = labels[p] != prev[p];
        if (!changed) break;
        memset(sum, 0, sizeof(double) * (size_t)(k * stride));
        memset(cnt, 0, sizeof(int64_t) * (size_t)k);
        for (int64_t p = 0; p < hw; p++) {
            double *s = sum + labels[p] * stride;
            s[0] += (double)(p / w), s[1] += (double)(p % w);
            for (int64_t q = 0; q < c; q++) s[2 + q] += img[q * hw + p];
            cnt[labels[p]]++;
        }
        for (int64_t q = 0; q < k; q++)
            if (cnt[q] > 0)
                for (int64_t j = 0; j < stride; j++) cen[q * stride + j] = sum[q * stride + j] / (double)cnt[q];
    }
    if (o->connectivity) {
        int64_t min_size = (int64_t)(o->min_size_factor * (double)hw / (double)k);
        *count = enforce_connectivity(labels, h, w, min_size < 1 ? 1 : min_size, prev, queue);
    } else {
        *count = relabel_raster(labels, hw, k, queue);
    }
done:
    free(cen), free(sum), free(dist), free(cnt), free(prev), free(queue);
    return rc;
}

typedef struct {
    const Tensor *x;
    const SegmentOptions *o;
    float *out;
} BatchCtx;

static int segment_task(void *p, int64_t i, int worker) {
    (void)worker;
    const BatchCtx *b = p;
    int64_t c = b->x->shape[1], h = b->x->shape[2], w = b->x->shape[3], hw = h * w, n;
    int32_t *lab = malloc(sizeof(int32_t) * (size_t)hw);
    if (!lab) return sn_errorf("out of memory segmenting a %lld x %lld image", (long long)h, (long long)w);
    int rc = SN_OK;
    if (b->o->kind == SEGMENT_GRID)
        segment_grid(h, w, b->o->cell[0], b->o->cell[1], lab);
    else
        rc = segment_slic(tensor_data(b->x) + i * c * hw, c, h, w, &b->o->slic, lab, &n);
    for (int64_t p = 0; rc == SN_OK && p < hw; p++) b->out[i * hw + p] = (float)lab[p];
    free(lab);
    return rc;
}

int segment_batch(const Tensor *x, const SegmentOptions *o, int nthreads, Tensor *out) {
    int64_t shape[4] = {x->shape[0], 1, x->shape[2], x->shape[3]};
    if (tensor_init(out, 4, shape) != SN_OK) return SN_ERR;
    BatchCtx b = {x, o, tensor_data(out)};
    if (parallel_for(nthreads, x->shape[0], segment_task, &b) != SN_OK) {
        tensor_release(out);
        return SN_ERR;
    }
    return SN_OK;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int64_t segment_compact(const float *ids, int64_t n, int32_t *labels) {
    float *u = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!u) return sn_errorf("out of memory compacting %lld segment ids", (long long)n);
    memcpy(u, ids, sizeof(float) * (size_t)n);
    qsort(u, (size_t)n, sizeof(float), cmp_float);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (k == 0 || u[i] != u[k - 1]) u[k++] = u[i];
    for (int64_t i = 0; i < n; i++) {
        const float *f = bsearch(&ids[i], u, (size_t)k, sizeof(float), cmp_float);
        labels[i] = (int32_t)(f - u);
    }
    free(u);
    return k;
}
