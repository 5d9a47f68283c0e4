/*
 * The number-theoretic transform over BabyBear, p = 15 * 2^27 + 1, along the rows of a
 * uint64 matrix: the same numbers as deepchain.crypto.zk.babybear.ntt_numpy.
 *
 * A CPython extension module (built by scripts/setup.sh with the machine's gcc). Each row is
 * copied into a 32-bit scratch row (N * 4 bytes: 256 KiB for N = 2^16, so it stays in L2), then
 * transformed by an iterative radix-2 decimation-in-frequency loop (natural order in, bit-reversed
 * out), then written back to the uint64 row through the bit-reversal permutation (and, for the
 * inverse, multiplied by N^-1).
 *
 * Field products by a known constant w use Shoup's method: with w' = floor(w 2^32 / p) and
 * x < 2^32, q = floor(x w' / 2^32) and r = x w - q p (mod 2^32) satisfy 0 <= r < 2p (p < 2^31), so
 * one conditional subtraction gives x w mod p. Every value between the butterflies is kept fully
 * reduced in [0, p); the conditional subtractions are written as unsigned min(), so gcc
 * vectorises the butterfly loops; they are compiled for AVX2 and AVX-512 too (target_clones,
 * picked at load time by the CPU).
 *
 * Twiddles: tw[h + j] = w_{2h}^j (j < h, h = 1, 2, 4, ..., N/2) with w_N = 31^((p-1)/N), or its
 * inverse, computed here; tw[k] and the Shoup companions occupy 2N 32-bit words.
 *
 * Python API (used by deepchain.crypto.native.babybear_ntt, which makes the copy):
 *   ntt(buf, rows, N, inverse) -> None
 *     buf: a writable C-contiguous buffer of rows * N uint64 (native byte order), every entry in
 *     [0, p); N a power of two up to 2^27. Transformed in place; the GIL is released meanwhile.
 *     ValueError if an entry is >= p (the buffer is then partly transformed).
 *   P -> int                                            the modulus
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BB_P 2013265921u /* 15 * 2^27 + 1 */
#define BB_GEN 31u
#define BB_TWO_ADICITY 27
#define BLOCK 4096 /* entries of a row transformed in L1 (16 KiB) */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CLONES
#endif

static inline uint32_t bb_min(uint32_t a, uint32_t b) { return a < b ? a : b; }

/* a mod p for a < 2p */
static inline uint32_t bb_reduce2(uint32_t a) { return bb_min(a, a - BB_P); }

/* x * w mod p for x < 2^32, w < p, wq = floor(w 2^32 / p) */
static inline uint32_t bb_shoup(uint32_t x, uint32_t w, uint32_t wq) {
    uint32_t q = (uint32_t)(((uint64_t)x * wq) >> 32);
    uint32_t r = x * w - q * BB_P;
    return bb_reduce2(r);
}

static inline uint32_t bb_shoup_q(uint32_t w) { return (uint32_t)(((uint64_t)w << 32) / BB_P); }

static uint32_t bb_mulmod(uint32_t a, uint32_t b) { return (uint32_t)((uint64_t)a * b % BB_P); }

static uint32_t bb_pow(uint32_t b, uint64_t e) {
    uint32_t r = 1;
    while (e) {
        if (e & 1) r = bb_mulmod(r, b);
        b = bb_mulmod(b, b);
        e >>= 1;
    }
    return r;
}

/* One DIF stage over the whole row: blocks of 2h, butterflies (u, v) -> (u + v, (u - v) w^j). */
CLONES
static void dif_stage(uint32_t *restrict x, size_t N, size_t h, const uint32_t *restrict tw,
                      const uint32_t *restrict twq) {
    for (size_t b = 0; b < N; b += 2 * h) {
        uint32_t *restrict lo = x + b, *restrict hi = x + b + h;
        for (size_t j = 0; j < h; j++) {
            uint32_t u = lo[j], v = hi[j];
            lo[j] = bb_reduce2(u + v);
            hi[j] = bb_shoup(u - v + BB_P, tw[j], twq[j]);
        }
    }
}

/* The stages h = 8 and h = 4 with a constant inner trip count (gcc then vectorises across
 * the butterflies of a block, which the generic loop does not for so short rows). */
static inline void dif_stage_const(uint32_t *restrict x, size_t N, const size_t h,
                                   const uint32_t *restrict tw, const uint32_t *restrict twq) {
    for (size_t b = 0; b < N; b += 2 * h) {
        uint32_t *restrict lo = x + b, *restrict hi = x + b + h;
        for (size_t j = 0; j < h; j++) {
            uint32_t u = lo[j], v = hi[j];
            lo[j] = bb_reduce2(u + v);
            hi[j] = bb_shoup(u - v + BB_P, tw[j], twq[j]);
        }
    }
}

CLONES
static void dif_stage8(uint32_t *restrict x, size_t N, const uint32_t *restrict tw,
                       const uint32_t *restrict twq) {
    dif_stage_const(x, N, 8, tw, twq);
}

CLONES
static void dif_stage4(uint32_t *restrict x, size_t N, const uint32_t *restrict tw,
                       const uint32_t *restrict twq) {
    dif_stage_const(x, N, 4, tw, twq);
}

/* The stage h = 1 (twiddle 1): pairs (x[2i], x[2i+1]). */
CLONES
static void dif_stage1(uint32_t *restrict x, size_t N) {
    for (size_t i = 0; i < N; i += 2) {
        uint32_t u = x[i], v = x[i + 1];
        x[i] = bb_reduce2(u + v);
        x[i + 1] = bb_reduce2(u - v + BB_P);
    }
}

/* The stage h = 2 (twiddles 1, w_4): blocks of four. */
CLONES
static void dif_stage2(uint32_t *restrict x, size_t N, uint32_t w, uint32_t wq) {
    for (size_t i = 0; i < N; i += 4) {
        uint32_t u0 = x[i], u1 = x[i + 1], v0 = x[i + 2], v1 = x[i + 3];
        x[i] = bb_reduce2(u0 + v0);
        x[i + 1] = bb_reduce2(u1 + v1);
        x[i + 2] = bb_reduce2(u0 - v0 + BB_P);
        x[i + 3] = bb_shoup(u1 - v1 + BB_P, w, wq);
    }
}

/* Copy a uint64 row into the 32-bit scratch; returns nonzero if an entry is >= p. */
CLONES
static int load_row(uint32_t *restrict x, const uint64_t *restrict src, size_t N) {
    uint64_t bad = 0;
    for (size_t i = 0; i < N; i++) {
        uint64_t v = src[i];
        bad |= (uint64_t)(v >= BB_P);
        x[i] = (uint32_t)v;
    }
    return bad != 0;
}

CLONES
static void store_row(uint64_t *restrict dst, const uint32_t *restrict x,
                      const uint32_t *restrict rev, size_t N) {
    for (size_t i = 0; i < N; i++) dst[i] = x[rev[i]];
}

CLONES
static void store_row_scaled(uint64_t *restrict dst, const uint32_t *restrict x,
                             const uint32_t *restrict rev, size_t N, uint32_t s, uint32_t sq) {
    for (size_t i = 0; i < N; i++) dst[i] = bb_shoup(x[rev[i]], s, sq);
}

/* 0: done; 1: an entry >= p; 2: out of memory. Runs without the GIL. */
static int ntt_rows(uint64_t *data, size_t rows, size_t N, int inverse) {
    if (N <= 1 || rows == 0) {
        for (size_t i = 0; i < rows * N; i++)
            if (data[i] >= BB_P) return 1;
        return 0;
    }
    int logn = 0;
    while (((size_t)1 << logn) < N) logn++;
    uint32_t *mem = malloc(sizeof(uint32_t) * 4 * N);
    if (mem == NULL) return 2;
    uint32_t *tw = mem, *twq = mem + N, *rev = mem + 2 * N, *x = mem + 3 * N;

    /* twiddles: the top stage (h = N/2) holds w^j; every lower stage is every other entry */
    uint32_t w = bb_pow(BB_GEN, (uint64_t)(BB_P - 1) / N);
    if (inverse) w = bb_pow(w, BB_P - 2);
    size_t h = N / 2;
    tw[h] = 1;
    for (size_t j = 1; j < h; j++) tw[h + j] = bb_mulmod(tw[h + j - 1], w);
    for (h = N / 4; h >= 1; h /= 2)
        for (size_t j = 0; j < h; j++) tw[h + j] = tw[2 * h + 2 * j];
    tw[0] = 0;
    for (size_t k = 0; k < N; k++) twq[k] = bb_shoup_q(tw[k]);
    for (size_t i = 0; i < N; i++) {
        uint32_t r = 0;
        for (int b = 0; b < logn; b++) r |= (uint32_t)((i >> b) & 1) << (logn - 1 - b);
        rev[i] = r;
    }
    uint32_t ninv = inverse ? bb_pow((uint32_t)(N % BB_P), BB_P - 2) : 1;
    uint32_t ninvq = bb_shoup_q(ninv);

    int status = 0;
    for (size_t r = 0; r < rows; r++) {
        uint64_t *row = data + r * N;
        if (load_row(x, row, N)) {
            status = 1;
            break;
        }
        /* the stages with blocks larger than BLOCK on the whole row, then the rest block by
         * block (each block of BLOCK entries stays in L1) */
        for (h = N / 2; h >= 16 && 2 * h > BLOCK; h /= 2) dif_stage(x, N, h, tw + h, twq + h);
        size_t B = N < BLOCK ? N : BLOCK;
        for (size_t b = 0; b < N; b += B) {
            for (size_t hh = h; hh >= 16; hh /= 2) dif_stage(x + b, B, hh, tw + hh, twq + hh);
            if (B >= 16) dif_stage8(x + b, B, tw + 8, twq + 8);
            if (B >= 8) dif_stage4(x + b, B, tw + 4, twq + 4);
            if (B >= 4) dif_stage2(x + b, B, tw[3], twq[3]);
            dif_stage1(x + b, B);
        }
        if (inverse)
            store_row_scaled(row, x, rev, N, ninv, ninvq);
        else
            store_row(row, x, rev, N);
    }
    free(mem);
    return status;
}

static PyObject *py_ntt(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer buf;
    Py_ssize_t rows, n;
    int inverse;
    if (!PyArg_ParseTuple(args, "w*nnp", &buf, &rows, &n, &inverse)) return NULL;
    PyObject *result = NULL;
    if (rows < 0 || n < 1 || (n & (n - 1)) || n > ((Py_ssize_t)1 << BB_TWO_ADICITY)) {
        PyErr_SetString(PyExc_ValueError, "ntt: N must be a power of two up to 2^27");
        goto done;
    }
    if (rows > 0 && (size_t)rows > (size_t)PY_SSIZE_T_MAX / 8 / (size_t)n) {
        PyErr_SetString(PyExc_ValueError, "ntt: rows * N too large");
        goto done;
    }
    if (buf.len != rows * n * 8) {
        PyErr_SetString(PyExc_ValueError, "ntt: the buffer must hold rows * N uint64 entries");
        goto done;
    }
    if (((uintptr_t)buf.buf) % sizeof(uint64_t)) {
        PyErr_SetString(PyExc_ValueError, "ntt: the buffer is not 8-byte aligned");
        goto done;
    }
    int status;
    Py_BEGIN_ALLOW_THREADS;
    status = ntt_rows((uint64_t *)buf.buf, (size_t)rows, (size_t)n, inverse);
    Py_END_ALLOW_THREADS;
    if (status == 1)
        PyErr_SetString(PyExc_ValueError, "ntt: an entry is not in [0, p)");
    else if (status == 2)
        PyErr_NoMemory();
    else
        result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&buf);
    return result;
}

static PyMethodDef methods[] = {
    {"ntt", py_ntt, METH_VARARGS,
     "ntt(buf, rows, N, inverse) -> None: the BabyBear NTT of each row of a uint64 buffer, in "
     "place."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_babybear",
    "The BabyBear (p = 15 * 2^27 + 1) number-theoretic transform on rows of uint64.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__babybear(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "P", (long)BB_P) < 0) Py_CLEAR(m);
    return m;
}
