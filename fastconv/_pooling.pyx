# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""fastconv._pooling: max pooling forward/backward (memory-bound loops, OpenMP via prange).

Arguments were validated in fastconv/_args.py: arrays are C-contiguous, shapes agree, indices are in range.
The `def`s are the binding (memoryviews -> pointers, GIL released); the `cdef ... nogil` functions the operators.
"""
from cython.parallel cimport prange, threadid
from libc.math cimport isnan, INFINITY
from libc.stdint cimport int32_t, int64_t, uint16_t, uint64_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

ctypedef fused real:
    float
    double

cdef extern from "pooling/isa_loops.h" nogil:
    int fc_isa
    int fc_vector_scatter
    int fc_vector_scatter_suits()
    enum: FC_ISA_GENERIC, FC_ISA_AVX2, FC_ISA_AVX512
    void pool_pick_f(float* y, int64_t* idx, const float* best, const float* tap, const int32_t* src,
                     const int64_t* col, int64_t base, int64_t n)
    void pool_pick_d(double* y, int64_t* idx, const double* best, const double* tap, const int32_t* src,
                     const int64_t* col, int64_t base, int64_t n)
    int64_t pool_scatter_f(float* gx, const float* gy, const int64_t* idx, const float* pooled, int64_t PQ,
                           int64_t C, int64_t HW)
    int64_t pool_scatter_d(double* gx, const double* gy, const int64_t* idx, const double* pooled, int64_t PQ,
                           int64_t C, int64_t HW)
    void pool_window_pick_f_avx512(float* y, int64_t* idx, const float* x, const int64_t* off, const float* tap,
                                   int64_t taps, const uint16_t* masks, const int64_t* col, int64_t base,
                                   int64_t span)
    void pool_pick_f_avx512_compress(float* y, int64_t* idx, const float* best, const float* tap,
                                     const uint16_t* masks, const int64_t* col, int64_t base, int64_t span)
    void pool_window_f(float* best, float* tap, float* vb, float* vt, const float* x, int64_t row_step,
                       int64_t col_step, int64_t kh, int64_t kw, float tap_row, float tap_col, int64_t n, int64_t nv)
    void pool_window_d(double* best, double* tap, double* vb, double* vt, const double* x, int64_t row_step,
                       int64_t col_step, int64_t kh, int64_t kw, double tap_row, double tap_col, int64_t n,
                       int64_t nv)
    void pool_pixels_f(float* y, int64_t* idx, const float* x, const int64_t* off, const int32_t* tap,
                       int64_t taps, int64_t C, int64_t sw, int64_t base, int64_t n)
    void pool_pixels_d(double* y, int64_t* idx, const double* x, const int64_t* off, const int64_t* tap,
                       int64_t taps, int64_t C, int64_t sw, int64_t base, int64_t n)
    void pool_row_s2_f(float* y, int64_t* idx, float* ev, float* od, float* et, float* ot, const float* x,
                       int64_t row_step, int64_t kh, int64_t kw, float tap_row, int64_t base, int64_t n, int64_t nb,
                       int64_t lo, int64_t hi)
    void pool_row_s2_d(double* y, int64_t* idx, double* ev, double* od, double* et, double* ot, const double* x,
                       int64_t row_step, int64_t kh, int64_t kw, double tap_row, int64_t base, int64_t n, int64_t nb,
                       int64_t lo, int64_t hi)
    void pool_row_take_f(float* y, float* bt, const float* x, int64_t step, float tap, int64_t n)
    void pool_row_take_d(double* y, double* bt, const double* x, int64_t step, double tap, int64_t n)
    void adam_f(float* p, const float* g, float* m, float* v, float lr_t, float beta_1, float beta_2,
                float epsilon, int64_t n)
    void adam_d(double* p, const double* g, double* m, double* v, double lr_t, double beta_1, double beta_2,
                double epsilon, int64_t n)

ISAS = {"generic": FC_ISA_GENERIC, "avx2": FC_ISA_AVX2, "avx512": FC_ISA_AVX512}


def use_isa(str isa):
    """Runs the vector loops built for `isa` (the convolution kernels' choice; see fastconv.runtime)."""
    global fc_isa
    fc_isa = ISAS[isa]


def isa():
    """The ISA whose vector loops run."""
    return next(name for name, number in ISAS.items() if number == fc_isa)


def use_vector_scatter(on=None):
    """Whether the NHWC backward on AVX-512 floats adds a channel vector at a time (gather, add, scatter) or value
    by value; None: this CPU's choice (value by value on AMD CPUs, where it measured faster). Returns the setting."""
    global fc_vector_scatter
    fc_vector_scatter = fc_vector_scatter_suits() if on is None else bool(on)
    return bool(fc_vector_scatter)


use_vector_scatter()


cdef inline void window(real* best, real* tap, real* vb, real* vt, const real* x, int64_t row_step,
                        int64_t col_step, int64_t kh, int64_t kw, real tap_row, real tap_col, int64_t n,
                        int64_t nv) noexcept nogil:
    if real is float:
        pool_window_f(best, tap, vb, vt, x, row_step, col_step, kh, kw, tap_row, tap_col, n, nv)
    else:
        pool_window_d(best, tap, vb, vt, x, row_step, col_step, kh, kw, tap_row, tap_col, n, nv)


cdef inline void row_s2(real* y, int64_t* idx, real* scratch, int64_t nb, const real* x, int64_t row_step,
                        int64_t kh, int64_t kw, real tap_row, int64_t base, int64_t n, int64_t lo,
                        int64_t hi) noexcept nogil:
    if real is float:
        pool_row_s2_f(y, idx, scratch, scratch + nb, scratch + 2 * nb, scratch + 3 * nb, x, row_step, kh, kw,
                      tap_row, base, n, nb, lo, hi)
    else:
        pool_row_s2_d(y, idx, scratch, scratch + nb, scratch + 2 * nb, scratch + 3 * nb, x, row_step, kh, kw,
                      tap_row, base, n, nb, lo, hi)


cdef inline void row_take(real* y, real* bt, const real* x, int64_t step, real tap, int64_t n) noexcept nogil:
    if real is float:
        pool_row_take_f(y, bt, x, step, tap, n)
    else:
        pool_row_take_d(y, bt, x, step, tap, n)


cdef inline void pick(real* y, int64_t* idx, const real* best, const real* tap, const int32_t* src,
                      const uint16_t* masks, const int64_t* col, int64_t base, int64_t n, int64_t span) noexcept nogil:
    if real is float:
        if fc_isa == FC_ISA_AVX512:
            pool_pick_f_avx512_compress(y, idx, best, tap, masks, col, base, span)
        else:
            pool_pick_f(y, idx, best, tap, src, col, base, n)
    else:
        pool_pick_d(y, idx, best, tap, src, col, base, n)



# Both layouts keep, beside the running maximum, the number of the tap that produced it as a float ("best tap"):
# every select in the inner loops is then float-on-float, which compilers vectorize (a float/int64 select does
# not vectorize, and as a branch it mispredicts on real data). Indices are made from the tap numbers at the end.
# Tap t is (i, j) = (t // kw, t % kw); -1 means "no input element seen yet".

# The per-window loops, for every output outside the rectangle [p0, p1) x [q0, q1) that maxpool_inside computed
# (empty where it did not run): windows that reach into the padding or past the input, and every output of the
# shapes maxpool_inside does not take.

# x: (planes, H, W) -> y, idx: (planes, P, Q); one output row per iteration, vectorized along the row.
cdef void maxpool_nchw(const real* x, real* y, int64_t* idx, real* best_tap, const int64_t* tap_offset,
                       int64_t planes, int64_t H, int64_t W, int64_t P, int64_t Q, int64_t kh, int64_t kw, int64_t sh,
                       int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t p0, int64_t p1,
                       int64_t q0, int64_t q1, int threads) noexcept nogil:
    cdef int64_t row, p
    cdef real* bt
    for row in prange(planes * P, num_threads=threads, schedule="static"):
        p = row % P
        bt = best_tap + threadid() * Q
        if p0 <= p < p1:
            nchw_columns(x, y, idx, bt, tap_offset, row, 0, q0, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw)
            nchw_columns(x, y, idx, bt, tap_offset, row, q1, Q, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw)
        else:
            nchw_columns(x, y, idx, bt, tap_offset, row, 0, Q, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw)


# Output columns [qa, qb) of one NCHW output row: tap by tap along the row; btr: the thread's row of best taps.
cdef inline void nchw_columns(const real* x, real* y, int64_t* idx, real* btr, const int64_t* tap_offset,
                              int64_t row, int64_t qa, int64_t qb, int64_t H, int64_t W, int64_t P, int64_t Q,
                              int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                              int64_t dw) noexcept nogil:
    cdef int64_t plane = row // P, p = row % P, q, i, j, ih, off, lo, hi, t, base
    cdef real* yr = y + row * Q
    cdef const real* xr
    if qa >= qb:
        return
    if qb - qa <= NARROW_COLUMNS:
        nchw_windows(x + plane * H * W, yr, idx + row * Q, p, qa, qb, H, W, kh, kw, sh, sw, ph, pw, dh, dw)
        return
    for q in range(qa, qb):
        yr[q] = -INFINITY
        btr[q] = -1
    for i in range(kh):
        ih = p * sh - ph + i * dh
        if ih < 0 or ih >= H:
            continue
        xr = x + (plane * H + ih) * W
        for j in range(kw):
            off = j * dw - pw
            lo = 0 if off >= 0 else (-off + sw - 1) // sw  # output columns whose tap column is inside [0, W)
            hi = 0 if W - off <= 0 else (W - 1 - off) // sw + 1
            lo = qa if lo < qa else lo
            hi = qb if hi > qb else hi
            if lo < hi:
                row_take(yr + lo, btr + lo, xr + lo * sw + off, sw, <real> (i * kw + j), hi - lo)
    base = (p * sh - ph) * W - pw
    for q in range(qa, qb):
        t = <int64_t> btr[q]
        idx[row * Q + q] = -1 if t < 0 else base + q * sw + tap_offset[t]


# A row's few border columns next to maxpool_inside's rectangle: one window at a time, in scalar code (a call per
# tap of a one-column row segment would cost more than the window).
cdef int64_t NARROW_COLUMNS = 4


cdef inline void nchw_windows(const real* plane, real* yr, int64_t* ir, int64_t p, int64_t qa, int64_t qb,
                              int64_t H, int64_t W, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                              int64_t pw, int64_t dh, int64_t dw) noexcept nogil:
    cdef int64_t q, i, j, ih, iw, t
    cdef real v, b
    for q in range(qa, qb):
        b = -INFINITY
        t = -1
        for i in range(kh):
            ih = p * sh - ph + i * dh
            if ih < 0 or ih >= H:
                continue
            for j in range(kw):
                iw = q * sw - pw + j * dw
                if iw < 0 or iw >= W:
                    continue
                v = plane[ih * W + iw]
                if t < 0 or v > b or (v != v and b == b):
                    b = v
                    t = ih * W + iw
        yr[q] = b
        ir[q] = t


# x: (N, H, W, C) -> y, idx: (N, P, Q, C); one output row (n, p) per iteration, vectorized along channels.
# in_plane: the best taps are kept as their in-plane indices ih * W + iw (exact as floats below 2^24), which are
# the indices themselves (a table lookup per value took a third of a 64-channel pooling's time); else tap numbers.
cdef void maxpool_nhwc(const real* x, real* y, int64_t* idx, real* best_tap, const int64_t* tap_offset,
                       int64_t N, int64_t C, int64_t H, int64_t W, int64_t P, int64_t Q, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t p0,
                       int64_t p1, int64_t q0, int64_t q1, int threads) noexcept nogil:
    cdef bint in_plane = H * W < (1 << 24) or real is double
    cdef int64_t row, n, p, q, i, j, ih, iw, c, o, t, base
    cdef real* bt
    cdef real* yp
    for row in prange(N * P, num_threads=threads, schedule="static"):
        n = row // P
        p = row % P
        bt = best_tap + threadid() * Q * C  # the thread's scratch row, like y's
        for q in range(Q):
            if p0 <= p < p1 and q0 <= q < q1:
                continue
            o = (row * Q + q) * C
            yp = y + o
            for c in range(C):
                yp[c] = -INFINITY
                bt[q * C + c] = -1
            for i in range(kh):
                ih = p * sh - ph + i * dh
                if ih < 0 or ih >= H:
                    continue
                for j in range(kw):
                    iw = q * sw - pw + j * dw
                    if iw < 0 or iw >= W:
                        continue
                    row_take(yp, bt + q * C, x + ((n * H + ih) * W + iw) * C, 1,
                             <real> (ih * W + iw if in_plane else i * kw + j), C)
            if in_plane:
                for c in range(C):
                    idx[o + c] = <int64_t> bt[q * C + c]
                continue
            base = (p * sh - ph) * W + q * sw - pw
            for c in range(C):
                t = <int64_t> bt[q * C + c]
                idx[o + c] = -1 if t < 0 else base + tap_offset[t]


cdef enum:
    ONE_PASS_TAPS = 4  # window and pick in one pass up to this many taps (2x2); more: the separable window pass


# The outputs [p0, p1) x [q0, q1) whose windows lie inside the input, for NHWC images of at least 16 channels:
# pool_pixels, one output row per call, each channel vector's window maximum in registers. tap_x: each tap's offset
# in x from its window's first value; tap_plane32 / tap_plane64: its in-plane offset (float / double taps).
cdef void maxpool_pixels(const real* x, real* y, int64_t* idx, const int64_t* tap_x, const int32_t* tap_plane32,
                         const int64_t* tap_plane64, int64_t N, int64_t C, int64_t H, int64_t W, int64_t P,
                         int64_t Q, int64_t taps, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t p0,
                         int64_t p1, int64_t q0, int64_t q1, int threads) noexcept nogil:
    cdef int64_t rows = p1 - p0, r, o, p, row
    cdef const real* xr
    for r in prange(N * rows, num_threads=threads, schedule="static"):
        o = r // rows
        p = p0 + r % rows
        row = o * P + p
        xr = x + ((o * H + p * sh - ph) * W + q0 * sw - pw) * C
        if real is float:
            pool_pixels_f(y + (row * Q + q0) * C, idx + (row * Q + q0) * C, xr, tap_x, tap_plane32, taps, C, sw,
                          (p * sh - ph) * W + q0 * sw - pw, q1 - q0)
        else:
            pool_pixels_d(y + (row * Q + q0) * C, idx + (row * Q + q0) * C, xr, tap_x, tap_plane64, taps, C, sw,
                          (p * sh - ph) * W + q0 * sw - pw, q1 - q0)


# Every output of one-channel planes (NCHW) pooled with stride 2 along rows and no dilation there: pool_row_s2, one
# output row per call, its window rows clipped to the input (the first and last output rows) and its padding
# columns masked by the kernel, so no window is left to the per-window loops (which took a quarter of the ResNet
# stem pooling's time for its first row and column). The kernel reads 2 * nb values from the first column of each
# window row; rows that would reach outside the tensor (its first and last) are copied first.
cdef void maxpool_rows_s2(const real* x, real* y, int64_t* idx, real* scratch, int64_t planes, int64_t H,
                          int64_t W, int64_t P, int64_t Q, int64_t kh, int64_t kw, int64_t sh, int64_t ph,
                          int64_t pw, int64_t dh, int64_t stride, int threads) noexcept nogil:
    cdef int64_t nb = s2_columns(Q, kw)
    cdef const real* x_end = x + planes * H * W
    cdef int64_t r, i, i0, i1, top, step
    cdef real* best
    cdef real* rows_copy
    cdef const real* xr
    for r in prange(planes * P, num_threads=threads, schedule="static"):
        best = scratch + threadid() * stride
        i0 = first_tap((r % P) * sh - ph, dh)
        i1 = end_tap((r % P) * sh - ph, dh, kh, H)
        top = (r % P) * sh - ph + i0 * dh  # the first window row read, in the plane
        xr = x + ((r // P) * H + top) * W - pw
        step = dh * W
        if xr < x or xr + (i1 - i0 - 1) * step + 2 * nb > x_end:
            rows_copy = best + 4 * nb
            for i in range(i1 - i0):
                copy_inside(rows_copy + i * 2 * nb, xr + i * step, 2 * nb, x, x_end)
            xr = rows_copy
            step = 2 * nb
        row_s2(y + r * Q, idx + r * Q, best, nb, xr, step, i1 - i0, kw, dh * W, top * W - pw, Q, pw, W + pw)


cdef inline int64_t first_tap(int64_t start, int64_t d) noexcept nogil:
    """The first tap i of a window starting at `start` (taps d apart) with start + i * d >= 0."""
    return 0 if start >= 0 else (d - 1 - start) // d


cdef inline int64_t end_tap(int64_t start, int64_t d, int64_t k, int64_t size) noexcept nogil:
    """One past the last tap i < k of that window with start + i * d < size."""
    return max(0, min(k, (size - 1 - start) // d + 1))


cdef inline void copy_inside(real* dst, const real* src, int64_t n, const real* lo, const real* hi) noexcept nogil:
    """dst[i] = src[i] for i < n where src + i lies in [lo, hi), else 0."""
    cdef int64_t a = min(n, max(0, lo - src)), b = max(a, min(n, hi - src))
    memset(dst, 0, a * sizeof(real))
    memcpy(dst + a, src + a, (b - a) * sizeof(real))
    memset(dst + b, 0, (n - b) * sizeof(real))


# The outputs [p0, p1) x [q0, q1) whose windows lie inside the input, for NHWC images of few channels (NCHW planes
# are images of one channel): a row holds W pixels of C values. For each output row, the window maximum is taken
# over vectors of consecutive values starting at every input column (pool_window: the whole window per vector,
# taps in the reference's order), then the values at each output column's first input column are picked out.
# Contiguous vectors work whatever C is, where a per-window loop over few channels does not vectorize. The taps
# kept beside the maxima are in-plane offsets i * dh * W + j * dw (exact as floats: see maxpool2d_fwd), so the pick
# turns them into indices with one add.
cdef void maxpool_inside(const real* x, real* y, int64_t* idx, real* scratch, const int32_t* src,
                         const uint16_t* masks, const int64_t* col, int64_t N, int64_t C, int64_t H, int64_t W,
                         int64_t P, int64_t Q, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph,
                         int64_t pw, int64_t dh, int64_t dw, int64_t p0, int64_t p1, int64_t q0, int64_t q1,
                         int64_t stride, bint borders, int threads) noexcept nogil:
    cdef int64_t rows = p1 - p0, span = inside_span(C, q1 - q0, sw)  # values from the first window's start on
    cdef int64_t whole = run_stride(span)      # rounded up to whole vectors: the extra values are never picked
    cdef int64_t reach = inside_reach(whole, kw, dw, C)  # values read from each window row's start
    cdef const real* x_end = x + N * H * W * C
    cdef int64_t r, row, o, p, i, avail
    cdef real* best       # the window maxima, full width
    cdef real* best_tap   # their taps' in-plane offsets, as floats (float-on-float selects vectorize)
    cdef real* down       # the maxima down the window rows, `reach` wide, and their offsets (down_tap)
    cdef real* down_tap
    cdef real* rows_copy  # the tensor's last rows, copied with a zero tail so the rounded-up reads stay in memory
    cdef const real* xr
    # AVX-512 floats, windows of <= 4 taps: window and pick in one pass (pool_window_pick_f_avx512); its taps'
    # offsets from a window row's start in the tensor (direct) or in the copied rows, and in the plane (tap_plane)
    cdef bint one_pass = real is float and fc_isa == FC_ISA_AVX512 and kh * kw <= ONE_PASS_TAPS
    cdef int64_t direct[ONE_PASS_TAPS]
    cdef int64_t copied[ONE_PASS_TAPS]
    cdef float tap_plane[ONE_PASS_TAPS]
    if one_pass:
        for i in range(kh * kw):
            direct[i] = (i // kw) * dh * W * C + (i % kw) * dw * C
            copied[i] = (i // kw) * reach + (i % kw) * dw * C
            tap_plane[i] = <float> ((i // kw) * dh * W + (i % kw) * dw)
    for r in prange(N * rows, num_threads=threads, schedule="static"):
        best = scratch + threadid() * stride
        best_tap = best + whole
        down = best_tap + whole
        down_tap = down + reach
        rows_copy = down_tap + reach
        o = r // rows
        p = p0 + r % rows
        row = o * P + p
        xr = x + ((o * H + p * sh - ph) * W + q0 * sw - pw) * C
        if one_pass:
            window_pick(y + (row * Q + q0) * C, idx + (row * Q + q0) * C, xr, x_end, rows_copy, direct, copied,
                        tap_plane, kh, kw, dh * W * C, reach, masks, col, (p * sh - ph) * W, span)
        elif xr + (kh - 1) * dh * W * C + reach <= x_end:
            window(best, best_tap, down, down_tap, xr, dh * W * C, dw * C, kh, kw, dh * W, dw, whole, reach)
        else:
            for i in range(kh):
                avail = min(reach, x_end - (xr + i * dh * W * C))
                memcpy(rows_copy + i * reach, xr + i * dh * W * C, avail * sizeof(real))
                memset(rows_copy + i * reach + avail, 0, (reach - avail) * sizeof(real))
            window(best, best_tap, down, down_tap, rows_copy, reach, dw * C, kh, kw, dh * W, dw, whole, reach)
        if not one_pass:
            pick(y + (row * Q + q0) * C, idx + (row * Q + q0) * C, best, best_tap, src, masks, col,
                 (p * sh - ph) * W, (q1 - q0) * C, span)
        if borders:
            row_borders(x + o * H * W, y + row * Q, idx + row * Q, p, q0, q1, H, W, Q, kh, kw, sh, sw, ph, pw, dh, dw)


cdef inline void row_borders(const real* plane, real* yr, int64_t* ir, int64_t p, int64_t q0, int64_t q1,
                             int64_t H, int64_t W, int64_t Q, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                             int64_t ph, int64_t pw, int64_t dh, int64_t dw) noexcept nogil:
    """A one-channel row's few columns outside [q0, q1), right after its inside ones, while its lines of y and
    indices are in cache (a later pass over every row took a cache miss per row: a third of the ResNet stem
    pooling's NCHW time)."""
    if q0 > 0:
        nchw_windows(plane, yr, ir, p, 0, q0, H, W, kh, kw, sh, sw, ph, pw, dh, dw)
    if q1 < Q:
        nchw_windows(plane, yr, ir, p, q1, Q, H, W, kh, kw, sh, sw, ph, pw, dh, dw)


cdef inline void window_pick(real* y, int64_t* idx, const real* xr, const real* x_end, real* rows_copy,
                             const int64_t* direct, const int64_t* copied, const float* tap_plane, int64_t kh,
                             int64_t kw, int64_t row_step, int64_t reach, const uint16_t* masks, const int64_t* col,
                             int64_t base, int64_t span) noexcept nogil:
    """maxpool_inside's row through pool_window_pick_f_avx512 (floats only), from the tensor or, where the rounded
    reads would pass its end, from a copy of the window rows."""
    cdef int64_t i, avail
    if real is float:
        if xr + (kh - 1) * row_step + reach <= x_end:
            pool_window_pick_f_avx512(y, idx, xr, direct, tap_plane, kh * kw, masks, col, base, span)
            return
        for i in range(kh):
            avail = min(reach, x_end - (xr + i * row_step))
            memcpy(rows_copy + i * reach, xr + i * row_step, avail * sizeof(real))
            memset(rows_copy + i * reach + avail, 0, (reach - avail) * sizeof(real))
        pool_window_pick_f_avx512(y, idx, rows_copy, copied, tap_plane, kh * kw, masks, col, base, span)


cdef inline int64_t inside_span(int64_t C, int64_t Q, int64_t sw) noexcept nogil:
    return ((Q - 1) * sw + 1) * C


cdef inline int64_t run_stride(int64_t span) noexcept nogil:
    """A run of span values rounded up to whole 64-byte lines (whole vectors on every ISA)."""
    return (span + 15) // 16 * 16


cdef inline int64_t inside_end(int64_t size, int64_t k, int64_t d, int64_t pad, int64_t s,
                               int64_t n_out) noexcept nogil:
    """One past the last output (of n_out) whose window of k taps d apart, starting at o * s - pad, ends inside
    [0, size)."""
    cdef int64_t last = size - 1 - (k - 1) * d + pad  # the largest window start, plus pad, that fits
    return 0 if last < 0 else min(n_out, last // s + 1)


cdef inline bint stride_two(int64_t sw, int64_t dw) noexcept nogil:
    """Whether maxpool_rows_s2 can run on one-channel rows: stride 2, no dilation along the row."""
    return sw == 2 and dw == 1


cdef bint windows_reach_input(int64_t n_out, int64_t s, int64_t pad, int64_t d, int64_t k,
                              int64_t size) noexcept nogil:
    """Whether each of n_out windows (k taps d apart, starting at o * s - pad) has a tap inside [0, size)."""
    cdef int64_t o
    for o in range(n_out):
        if first_tap(o * s - pad, d) >= end_tap(o * s - pad, d, k, size):
            return False
    return True


cdef inline int64_t s2_columns(int64_t n, int64_t kw) noexcept nogil:
    """pool_row_s2's even (and odd) columns for n outputs: n + kw / 2, in whole 64-byte lines."""
    return run_stride(n + kw // 2)


cdef inline int64_t inside_reach(int64_t whole, int64_t kw, int64_t dw, int64_t C) noexcept nogil:
    """Values maxpool_inside reads from each window row's start: the maxima's width plus the window's, in whole
    64-byte lines."""
    return run_stride((kw - 1) * dw * C) + whole


cdef inline int64_t inside_stride(int64_t span, int64_t kh, int64_t reach) noexcept nogil:
    """Values between two threads' scratch (maxima and taps, the same down the rows, kh copied rows), rounded up to
    4 KiB so threads never share a cache line."""
    return (2 * run_stride(span) + (2 + kh) * reach + 1023) // 1024 * 1024


# maxpool_inside computes a window maximum at every input column, sw times the columns windows start at: worth it
# for the usual small strides, while a row stays in cache, and only where channel vectors do not fill a pixel:
# NHWC with few channels (6 channels: 2x faster than the per-window loops) and NCHW planes. With 16 or more
# channels maxpool_pixels takes the inside windows (the ResNet stem's NHWC pooling: 1.9 -> 0.92 ms).
cdef int64_t INSIDE_MAX_STRIDE = 4
cdef int64_t INSIDE_MAX_SPAN = 1 << 16
cdef int64_t INSIDE_MAX_CHANNELS = 16


def maxpool2d_fwd(const real[:, :, :, ::1] x,        # IN  (N, C, H, W) or (N, H, W, C)
                  real[:, :, :, ::1] y,              # OUT (N, C, P, Q) or (N, P, Q, C)
                  int64_t[:, :, :, ::1] indices not None,  # OUT like y
                  tuple geometry,                    # IN  (N, C, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw)
                  bint nhwc, int threads):
    cdef int64_t N, C, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw
    N, C, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw = geometry
    cdef int64_t* ip = &indices[0, 0, 0, 0]
    cdef const real* xp = &x[0, 0, 0, 0]
    cdef real* yp = &y[0, 0, 0, 0]
    # The outputs whose windows lie inside the input: rows [p0, p1), columns [q0, q1) (empty: p0 == p1 or q0 == q1)
    cdef int64_t p0 = min(P, (ph + sh - 1) // sh), q0 = min(Q, (pw + sw - 1) // sw)
    cdef int64_t p1 = max(p0, inside_end(H, kh, dh, ph, sh, P)), q1 = max(q0, inside_end(W, kw, dw, pw, sw, Q))
    # maxpool_inside takes them for NHWC images of few channels and NCHW planes (images of one channel),
    # maxpool_pixels for NHWC images of many; maxpool_rows_s2 takes every output of NCHW planes pooled with stride 2
    cdef int64_t images = N if nhwc else N * C, channels = C if nhwc else 1
    cdef bint exact_taps = (kh - 1) * dh * W + (kw - 1) * dw < (1 << 24) or real is double  # as float taps
    cdef bint rows_s2 = (not nhwc and stride_two(sw, dw) and exact_taps and s2_columns(Q, kw) <= INSIDE_MAX_SPAN
                         and windows_reach_input(P, sh, ph, dh, kh, H) and windows_reach_input(Q, sw, pw, dw, kw, W))
    cdef bint any_inside = p0 < p1 and q0 < q1 and exact_taps and not rows_s2
    cdef bint pixels = any_inside and nhwc and C >= INSIDE_MAX_CHANNELS
    cdef bint inside = (any_inside and not pixels and sw <= INSIDE_MAX_STRIDE
                        and inside_span(channels, q1 - q0, sw) <= INSIDE_MAX_SPAN)
    if rows_s2:
        p0, p1, q0, q1 = 0, P, 0, Q
    elif not inside and not pixels:
        p0 = p1 = q0 = q1 = 0
    # one-channel rows: maxpool_inside also does each row's few border columns (scalar windows)
    cdef bint borders = inside and channels == 1 and q0 <= NARROW_COLUMNS and Q - q1 <= NARROW_COLUMNS
    # inside: maxima, taps and kh copied rows per thread; the per-window loops: the best-tap numbers of a row
    cdef int64_t span = inside_span(channels, q1 - q0, sw) if inside else 0
    cdef int64_t reach = inside_reach(run_stride(span), kw, dw, channels)
    cdef int64_t stride = inside_stride(span, kh, reach)  # per thread; pool_row_s2: 4 + 2 kh rows of its columns
    if rows_s2:
        stride = (4 + 2 * kh) * s2_columns(Q, kw) // 1024 * 1024 + 1024
    # (the per-window loops: one output row of best taps per thread; as large as the output, the buffer's pages
    # faulted in on every call, a fifth of the ResNet stem pooling's time)
    cdef int64_t scratch_size = max(threads * stride if inside or rows_s2 else 0, threads * Q * C)
    cdef int64_t picks = (q1 - q0) * channels if inside else 0  # inside: where each output sits in its maxima
    cdef real* scratch = <real*> malloc(scratch_size * sizeof(real))
    cdef int64_t* tap_offset = <int64_t*> malloc(kh * kw * sizeof(int64_t))  # tap -> offset in the plane
    cdef int32_t* src = <int32_t*> malloc((picks + 1) * sizeof(int32_t))      # output e of a row -> its maximum
    cdef int64_t* col = <int64_t*> malloc((picks + 1) * sizeof(int64_t))      # -> its window's first column
    cdef uint16_t* masks = <uint16_t*> calloc(span // 16 + 1, sizeof(uint16_t))  # maxima that are outputs
    cdef int64_t* tap_x = <int64_t*> malloc(kh * kw * sizeof(int64_t))    # pixels: tap -> offset in x
    cdef int32_t* tap_plane32 = <int32_t*> malloc(kh * kw * sizeof(int32_t))  # -> offset in the plane
    cdef int64_t t, e
    try:
        if (scratch == NULL or tap_offset == NULL or src == NULL or col == NULL or masks == NULL or tap_x == NULL
                or tap_plane32 == NULL):
            raise MemoryError()
        for t in range(kh * kw):
            tap_offset[t] = (t // kw) * dh * W + (t % kw) * dw
            tap_x[t] = tap_offset[t] * C
            tap_plane32[t] = <int32_t> tap_offset[t] if pixels and real is float else 0
        for e in range(picks):
            src[e] = <int32_t> ((e // channels) * sw * channels + e % channels)
            col[e] = (q0 + e // channels) * sw - pw
            masks[src[e] // 16] |= <uint16_t> (1 << (src[e] % 16))
        with nogil:
            if rows_s2:
                maxpool_rows_s2(xp, yp, ip, scratch, N * C, H, W, P, Q, kh, kw, sh, ph, pw, dh, stride, threads)
            if pixels:
                maxpool_pixels(xp, yp, ip, tap_x, tap_plane32, tap_offset, N, C, H, W, P, Q, kh * kw, sh, sw, ph,
                               pw, p0, p1, q0, q1, threads)
            if inside:
                maxpool_inside(xp, yp, ip, scratch, src, masks, col, images, channels, H, W, P, Q, kh, kw, sh, sw,
                               ph, pw, dh, dw, p0, p1, q0, q1, stride, borders, threads)
            if borders:  # the inside rows are whole: only the rows outside [p0, p1) are left
                q0, q1 = 0, Q
            if (inside or pixels or rows_s2) and p0 == 0 and p1 == P and q0 == 0 and q1 == Q:
                pass  # every window inside: nothing left for the per-window loops
            elif nhwc:
                maxpool_nhwc(xp, yp, ip, scratch, tap_offset, N, C, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw,
                             p0, p1, q0, q1, threads)
            else:
                maxpool_nchw(xp, yp, ip, scratch, tap_offset, N * C, H, W, P, Q, kh, kw, sh, sw, ph, pw, dh, dw,
                             p0, p1, q0, q1, threads)
    finally:
        free(scratch)
        free(tap_offset)
        free(src)
        free(col)
        free(masks)
        free(tap_x)
        free(tap_plane32)


# gx[plane][idx] += gy for every output of the plane; differentiates y = x[idx]. With `pooled`, only where
# pooled > 0 (a ReLU before the pooling). Indices outside [-1, HW) are skipped and counted: the caller raises on a
# nonzero count (checked here, in the scatter's one pass over them). NCHW: one plane per iteration; NHWC: one
# image, so no two threads touch the same gx element.
cdef int64_t maxpool_bwd(const real* gy, const int64_t* idx, const real* pooled, real* gx, int64_t planes,
                         int64_t C, int64_t HW, int64_t PQ, int threads) noexcept nogil:
    cdef int64_t plane, bad = 0
    for plane in prange(planes, num_threads=threads, schedule="static"):
        bad += scatter(gx + plane * HW * C, gy + plane * PQ * C, idx + plane * PQ * C,
                       NULL if pooled == NULL else pooled + plane * PQ * C, PQ, C, HW)
    return bad


cdef inline int64_t scatter(real* gx, const real* gy, const int64_t* idx, const real* pooled, int64_t PQ, int64_t C,
                            int64_t HW) noexcept nogil:
    if real is float:
        return pool_scatter_f(gx, gy, idx, pooled, PQ, C, HW)
    else:
        return pool_scatter_d(gx, gy, idx, pooled, PQ, C, HW)


def maxpool2d_bwd(const real[:, :, :, ::1] grad_y,      # IN  (N, C, P, Q) or (N, P, Q, C)
                  const int64_t[:, :, :, ::1] indices,  # IN  like grad_y, flat positions within each plane
                  const real[:, :, :, ::1] pooled,      # IN  like grad_y or None: the forward output (see above)
                  real[:, :, :, ::1] grad_x,            # OUT (N, C, H, W) or (N, H, W, C)
                  bint nhwc, int threads):
    """Returns the number of indices outside [-1, H * W), which were skipped."""
    cdef int64_t N = grad_x.shape[0]
    cdef int64_t C = grad_x.shape[3] if nhwc else grad_x.shape[1]
    cdef int64_t HW = grad_x.shape[1] * grad_x.shape[2] if nhwc else grad_x.shape[2] * grad_x.shape[3]
    cdef int64_t PQ = grad_y.shape[1] * grad_y.shape[2] if nhwc else grad_y.shape[2] * grad_y.shape[3]
    cdef const real* gyp = &grad_y[0, 0, 0, 0] if grad_y.size else NULL
    cdef const int64_t* ip = &indices[0, 0, 0, 0] if indices.size else NULL
    cdef const real* pp = &pooled[0, 0, 0, 0] if pooled is not None and pooled.size else NULL
    cdef real* gxp = &grad_x[0, 0, 0, 0]
    cdef int64_t bad
    with nogil:
        if nhwc:
            bad = maxpool_bwd(gyp, ip, pp, gxp, N, C, HW, PQ, threads)
        else:
            bad = maxpool_bwd(gyp, ip, pp, gxp, N * C, 1, HW, PQ, threads)
    return bad


# Small memory-bound kernels of training: ReLU, bias, fused softmax + cross-entropy.

from libc.math cimport exp, log, sqrt

cdef int64_t MIN_ELEMENTS_PER_THREAD = 1 << 15  # a fork/join (~1 us) buys at least ~10 us of streaming


cdef inline int threads_for(int64_t elements, int threads) noexcept nogil:
    cdef int64_t useful = elements // MIN_ELEMENTS_PER_THREAD
    return <int>(1 if useful < 1 else (useful if useful < threads else threads))


def relu_fwd(const real[::1] x,     # IN  any shape, flattened
             real[::1] y,           # OUT like x
             int threads):
    """y = max(x, 0); NaN stays NaN."""
    cdef int64_t i, n = x.shape[0]
    cdef int t = threads_for(n, threads)
    cdef real v
    for i in prange(n, nogil=True, num_threads=t, schedule="static"):
        v = x[i]
        y[i] = 0 if v < 0 else v  # a select on a loaded value: vectorizes, keeps NaN


def relu_bwd(const real[::1] gy,    # IN  dL/dy, flattened
             const real[::1] y,     # IN  the forward output
             real[::1] gx,          # OUT dL/dx
             int threads):
    """Differentiates y = max(x, 0): gx = gy where y > 0, else 0."""
    cdef int64_t i, n = gy.shape[0]
    cdef int t = threads_for(n, threads)
    cdef real g
    for i in prange(n, nogil=True, num_threads=t, schedule="static"):
        g = gy[i]  # loaded unconditionally so the select below vectorizes
        gx[i] = g if y[i] > 0 else 0


def bias_add(real[:, ::1] y,         # IN/OUT (rows, K): y[r, k] += b[k]
             const real[::1] b,      # IN (K,)
             int threads):
    cdef int64_t r, k, rows = y.shape[0], K = y.shape[1]
    cdef int t = threads_for(rows * K, threads)
    for r in prange(rows, nogil=True, num_threads=t, schedule="static"):
        for k in range(K):
            y[r, k] = y[r, k] + b[k]


def bias_grad(const real[:, ::1] gy,  # IN  (rows, K)
              real[::1] gb,           # OUT (K,): column sums, in float64, over a fixed split of the rows
              int threads):
    cdef int64_t r, k, part, rows = gy.shape[0], K = gy.shape[1]
    cdef int parts = threads_for(rows * K, threads)
    cdef double* partial = <double*> calloc(parts * K if parts * K > 0 else 1, sizeof(double))
    cdef double acc
    if partial == NULL:
        raise MemoryError()
    try:
        for part in prange(parts, nogil=True, num_threads=parts, schedule="static"):
            for r in range(rows * part // parts, rows * (part + 1) // parts):
                for k in range(K):
                    partial[part * K + k] += gy[r, k]
        for k in range(K):
            acc = 0
            for part in range(parts):
                acc = acc + partial[part * K + k]
            gb[k] = <real> acc
    finally:
        free(partial)


cdef inline double shifted_exp(const real* z, real* e, int64_t K, double* m) noexcept nogil:
    """e[k] = exp(z[k] - m) for the row's maximum m (the first NaN if any: then every e is NaN); returns their sum
    (in double) and sets *m."""
    cdef int64_t k
    cdef double s = 0, top = z[0], v
    for k in range(1, K):
        if z[k] > top or isnan(z[k]):
            top = z[k]
    for k in range(K):
        v = exp(z[k] - top)
        e[k] = <real> v
        s += v
    m[0] = top
    return s


cdef inline int64_t row_loss(const real* z, int64_t label, int64_t K, double s, double m,
                             double* loss) noexcept nogil:
    """*loss = log(sum exp(z - m)) - (z[label] - m) from shifted_exp's s and m; a label outside [0, K) gives 0 and
    returns 1 (the caller counts them), else 0."""
    if <uint64_t> label < <uint64_t> K:
        loss[0] = log(s) - (z[label] - m)
        return 0
    loss[0] = 0
    return 1


cdef double in_order(const double[::1] losses):
    """The losses' sum, added in row order (the same for any thread count)."""
    cdef int64_t i
    cdef double total = 0
    for i in range(losses.shape[0]):
        total += losses[i]
    return total


def softmax_xent_fwd(const real[:, ::1] logits,   # IN  (N, K)
                     const int64_t[::1] labels,   # IN  (N,), each in [0, K)
                     real[:, ::1] probs,          # OUT (N, K): softmax of each row
                     double[::1] losses,          # OUT (N,): -log softmax(logits)[label]
                     int threads):
    """Row-wise softmax and cross-entropy, stable for any logits: shifts each row by its maximum, and takes the
    loss as log(sum exp(z - m)) - (z[label] - m) rather than -log(p), which would overflow to inf.
    Returns the sum of the losses (added in row order), or None if a label lies outside [0, K)."""
    cdef int64_t i, k, N = logits.shape[0], K = logits.shape[1], bad = 0
    cdef double m, s
    cdef int t = threads_for(N * K, threads)
    for i in prange(N, nogil=True, num_threads=t, schedule="static"):
        s = shifted_exp(&logits[i, 0], &probs[i, 0], K, &m)
        for k in range(K):
            probs[i, k] = <real> (probs[i, k] / s)
        bad += row_loss(&logits[i, 0], labels[i], K, s, m, &losses[i])
    return None if bad else in_order(losses)


def softmax_xent_step(const real[:, ::1] logits,   # IN  (N, K)
                      const int64_t[::1] labels,   # IN  (N,), each in [0, K)
                      double scale,                # IN  dL/d(loss_i), e.g. 1/N for the mean
                      real[:, ::1] grad,           # OUT (N, K): d(scale * sum loss_i)/dlogits
                      double[::1] losses,          # OUT (N,): -log softmax(logits)[label]
                      int threads):
    """softmax_xent_fwd and softmax_xent_bwd in one pass, for a training step: grad = scale * (softmax(z) -
    onehot(label)), without keeping the probabilities. Returns (sum of the losses, added in row order; rows whose
    largest probability (the first of equal ones, as numpy.argmax) sits at their label), or None if a label lies
    outside [0, K)."""
    cdef int64_t i, k, best, N = logits.shape[0], K = logits.shape[1], bad = 0, hits = 0
    cdef double m, s
    cdef real p, top
    cdef int t = threads_for(N * K, threads)
    for i in prange(N, nogil=True, num_threads=t, schedule="static"):
        s = shifted_exp(&logits[i, 0], &grad[i, 0], K, &m)  # grad holds exp(z - m) until s is known
        best = 0
        top = <real> (grad[i, 0] / s)
        for k in range(K):
            p = <real> (grad[i, k] / s)  # the probability softmax_xent_fwd stores
            if p > top:  # a NaN logit makes every probability NaN: argmax 0, as numpy's
                top = p
                best = k
            grad[i, k] = <real> (scale * (p - (1.0 if k == labels[i] else 0.0)))
        bad += row_loss(&logits[i, 0], labels[i], K, s, m, &losses[i])
        hits += best == labels[i]  # never true for a label outside [0, K)
    return None if bad else (in_order(losses), hits)


def softmax_xent_bwd(const real[:, ::1] probs,    # IN  (N, K) from softmax_xent_fwd
                     const int64_t[::1] labels,   # IN  (N,)
                     double scale,                # IN  dL/d(loss_i), e.g. 1/N for the mean
                     real[:, ::1] grad,           # OUT (N, K): d(scale * sum loss_i)/dlogits
                     int threads):
    """Differentiates loss_i = log sum_k exp(z_ik) - z_i,label: grad = scale * (softmax(z) - onehot(label)).
    Returns the number of labels outside [0, K) (those rows get no one-hot term)."""
    cdef int64_t i, k, N = probs.shape[0], K = probs.shape[1], bad = 0
    cdef int t = threads_for(N * K, threads)
    for i in prange(N, nogil=True, num_threads=t, schedule="static"):
        if <uint64_t> labels[i] >= <uint64_t> K:
            bad += 1
        for k in range(K):
            grad[i, k] = <real> (scale * (probs[i, k] - (1.0 if k == labels[i] else 0.0)))
    return bad


# An Adam element costs a square root and a division (~1 ns a core), where the streaming loops above spend ~0.1 ns:
# worth a second thread from ~4 Ki elements on (a dense layer's 10 Ki: 8.7 -> 5.4 us in the MNIST epoch).
cdef int64_t ADAM_WEIGHT = 8


def adam_update(real[::1] p,          # IN/OUT parameter, flattened
                const real[::1] g,    # IN  its gradient
                real[::1] m,          # IN/OUT first-moment estimate
                real[::1] v,          # IN/OUT second-moment estimate
                double lr_t, double beta_1, double beta_2, double epsilon, int threads):
    """One Adam step in one pass, in p's precision: m += (1-b1)(g-m); v += (1-b2)(g^2-v);
    p -= lr_t m / (sqrt(v) + eps). Large parameters are split in equal parts over the threads."""
    cdef int64_t n = p.shape[0]
    if n == 0:
        return
    with nogil:
        adam_parts(&p[0], &g[0], &m[0], &v[0], lr_t, beta_1, beta_2, epsilon, n, threads)


cdef class AdamGroup:
    """The Adam steps of several parameters in one call (a training step's optimizer update): each parameter and its
    moments m, v as flat C-contiguous arrays of one dtype (float32 or float64), their data pointers taken once
    here (the arrays are kept alive here; in-place writes to them are seen); step() takes only the gradients."""
    cdef list arrays
    cdef int64_t count
    cdef void** p
    cdef void** m
    cdef void** v
    cdef int64_t* n
    cdef char* f64

    def __cinit__(self, list params, list ms, list vs):
        self.count = len(params)
        self.arrays = [tuple(a) for a in zip(params, ms, vs)]
        self.p = <void**> calloc(self.count + 1, sizeof(void*))
        self.m = <void**> calloc(self.count + 1, sizeof(void*))
        self.v = <void**> calloc(self.count + 1, sizeof(void*))
        self.n = <int64_t*> calloc(self.count + 1, sizeof(int64_t))
        self.f64 = <char*> calloc(self.count + 1, sizeof(char))
        if not (self.p and self.m and self.v and self.n and self.f64):
            raise MemoryError()
        for i, (p, m, v) in enumerate(self.arrays):
            self.f64[i] = p.dtype.itemsize == 8
            self.n[i] = p.shape[0]
            self.p[i], self.m[i], self.v[i] = data_of(p, True), data_of(m, True), data_of(v, True)
            if m.dtype != p.dtype or v.dtype != p.dtype or m.shape != p.shape or v.shape != p.shape:
                raise ValueError("AdamGroup: a parameter's moments must match it in dtype and shape")

    def __dealloc__(self):
        free(self.p)
        free(self.m)
        free(self.v)
        free(self.n)
        free(self.f64)

    def step(self, list grads, double lr_t, double beta_1, double beta_2, double epsilon, int threads):
        """One Adam step of every parameter whose gradient grads[i] is not None (flat, C-contiguous, its dtype and
        size), as adam_update does it."""
        cdef int64_t i
        cdef void* g
        if len(grads) != self.count:
            raise ValueError(f"AdamGroup.step: {len(grads)} gradients for {self.count} parameters")
        for i in range(self.count):
            if grads[i] is None:
                continue
            if grads[i].dtype.itemsize != (8 if self.f64[i] else 4) or grads[i].shape[0] != self.n[i]:
                raise ValueError(f"AdamGroup.step: gradient {i} does not match its parameter")
            g = data_of(grads[i], False)
            with nogil:
                if self.f64[i]:
                    adam_parts(<double*> self.p[i], <const double*> g, <double*> self.m[i], <double*> self.v[i],
                               lr_t, beta_1, beta_2, epsilon, self.n[i], threads)
                else:
                    adam_parts(<float*> self.p[i], <const float*> g, <float*> self.m[i], <float*> self.v[i],
                               lr_t, beta_1, beta_2, epsilon, self.n[i], threads)


cdef void* data_of(a, bint writeable) except? NULL:
    """The data of a flat C-contiguous float32/float64 array (NULL when empty), checked through its buffer."""
    cdef float[::1] f
    cdef double[::1] d
    cdef const float[::1] cf
    cdef const double[::1] cd
    if a.dtype.itemsize == 4:
        if writeable:
            f = a
            return &f[0] if f.shape[0] else NULL
        cf = a
        return <void*> &cf[0] if cf.shape[0] else NULL
    if writeable:
        d = a
        return &d[0] if d.shape[0] else NULL
    cd = a
    return <void*> &cd[0] if cd.shape[0] else NULL


cdef void adam_parts(real* p, const real* g, real* m, real* v, double lr_t, double beta_1, double beta_2,
                     double epsilon, int64_t n, int threads) noexcept nogil:
    """adam_update's split of one parameter over the threads."""
    cdef int64_t part, lo, hi
    cdef int parts = threads_for(n * ADAM_WEIGHT, threads)
    if n == 0:
        return
    if parts == 1:  # no parallel region: most parameters are small, and a fork/join costs more than they do
        adam_span(p, g, m, v, lr_t, beta_1, beta_2, epsilon, n)
        return
    for part in prange(parts, num_threads=parts, schedule="static"):
        lo = n * part // parts
        hi = n * (part + 1) // parts
        adam_span(p + lo, g + lo, m + lo, v + lo, lr_t, beta_1, beta_2, epsilon, hi - lo)


cdef inline void adam_span(real* p, const real* g, real* m, real* v, double lr_t, double beta_1, double beta_2,
                           double epsilon, int64_t n) noexcept nogil:
    if real is float:
        adam_f(p, g, m, v, <float> lr_t, <float> beta_1, <float> beta_2, <float> epsilon, n)
    else:
        adam_d(p, g, m, v, lr_t, beta_1, beta_2, epsilon, n)
