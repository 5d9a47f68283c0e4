/*
 * Multi-buffer Montgomery modular exponentiation on AVX-512 IFMA: 8 bases, one exponent.
 *
 * A CPython extension module (built by scripts/setup.sh with the machine's gcc). Numbers are
 * held in radix 2^52 ("52-bit limbs"), lane-interleaved: vector k of a number holds limb k of
 * the 8 lanes' values, so one vpmadd52luq/vpmadd52huq multiplies 8 independent limb pairs.
 *
 * Montgomery multiplication is the word-by-word (CIOS-like) "almost Montgomery" product
 * AMM(a, b) = a b R^-1 mod m with R = 2^(52 L), 4 m < R: for a, b < 2m its result is < 2m
 * (Gueron, "Efficient software implementations of modular exponentiation", J. Cryptogr. Eng.
 * 2012; Drucker-Gueron, "Fast modular squaring with AVX512IFMA", 2019), so no final
 * subtraction, and no data-dependent branch, is needed between products.
 *
 * Exponentiation is a fixed-window (w = 5) left-to-right schedule over a public number of
 * exponent bits: every window costs 5 squarings and one multiplication by a table entry, the
 * entry T[k] (k the window's value, possibly 0 with T[0] = Montgomery 1) is read by scanning
 * the whole table with masks, so neither branches nor memory addresses depend on the exponent.
 *
 * Python API (used by deepchain.crypto.modexp, which converts ints and keeps the fallback):
 *   available() -> bool                                 CPU has AVX-512F + IFMA (and the OS)
 *   limbs(bits) -> int                                  L for a modulus of `bits` bits
 *   powm(bases: bytes, count: int, e: bytes, e_bits: int, m: bytes, rr: bytes, k0: int)
 *       -> bytes
 *     bases: count little-endian values, each len(m) bytes, each < m; e: little-endian
 *     exponent, its low e_bits bits used (e_bits is the public schedule length); m: odd
 *     modulus; rr = R^2 mod m (len(m) bytes); k0 = -m^-1 mod 2^52. Returns count values of
 *     len(m) bytes: base^e mod m, possibly + m (the caller reduces once: result <= m).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

#define LANES 8
#define MAX_LIMBS 128 /* moduli up to 52 * 128 - 2 = 6654 bits (n^2 for 3072-bit n: 6144) */
#define WIN 5
#define TABLE (1 << WIN)
#define MASK52 ((1ULL << 52) - 1)

/* -- limb conversion (portable) ------------------------------------------------------------ */

/* Little-endian bytes -> L limbs of 52 bits, written to out[k * LANES + lane]. */
static void to_limbs(const uint8_t *src, size_t nb, uint64_t *out, int L, int lane) {
    for (int k = 0; k < L; k++) {
        size_t bit = (size_t)k * 52;
        uint64_t v = 0;
        for (int b = 0; b < 8; b++) { /* 52 bits span at most 8 bytes from bit/8 */
            size_t idx = bit / 8 + (size_t)b;
            if (idx < nb) v |= (uint64_t)src[idx] << (8 * b);
        }
        out[(size_t)k * LANES + lane] = (v >> (bit % 8)) & MASK52;
    }
}

/* Normalized L limbs (lane `lane`) -> nb little-endian bytes. */
static void from_limbs(const uint64_t *in, int L, int lane, uint8_t *dst, size_t nb) {
    memset(dst, 0, nb);
    for (int k = 0; k < L; k++) {
        uint64_t v = in[(size_t)k * LANES + lane];
        size_t bit = (size_t)k * 52;
        for (int b = 0; b < 52; b++) {
            size_t pos = bit + (size_t)b;
            if (pos / 8 < nb) dst[pos / 8] |= (uint8_t)(((v >> b) & 1) << (pos % 8));
        }
    }
}

#if HAVE_X86
#define TGT __attribute__((target("avx512f,avx512ifma")))

/* r = AMM(a, b) mod m for 8 lanes; a, b, m, r: L vectors of normalized limbs; acc: 2L+1
 * vectors of scratch. r may alias a or b. */
TGT static void amm(__m512i *r, const __m512i *a, const __m512i *b, const __m512i *m,
                    __m512i k0, int L, __m512i *acc) {
    const __m512i zero = _mm512_setzero_si512();
    const __m512i mask = _mm512_set1_epi64((long long)MASK52);
    for (int k = 0; k < 2 * L + 1; k++) acc[k] = zero;
    for (int i = 0; i < L; i++) {
        const __m512i ai = a[i];
        __m512i *t = acc + i;
        /* t[0] += lo(a_i b_0); q = lo(t[0] k0): t[0] + lo(q m_0) = 0 mod 2^52 */
        __m512i t0 = _mm512_madd52lo_epu64(t[0], ai, b[0]);
        const __m512i q = _mm512_madd52lo_epu64(zero, t0, k0);
        t0 = _mm512_madd52lo_epu64(t0, q, m[0]);
        t[1] = _mm512_add_epi64(t[1], _mm512_srli_epi64(t0, 52));
        for (int j = 1; j < L; j++) {
            __m512i x = t[j];
            __m512i y = zero;
            x = _mm512_madd52lo_epu64(x, ai, b[j]);
            y = _mm512_madd52lo_epu64(y, q, m[j]);
            x = _mm512_madd52hi_epu64(x, ai, b[j - 1]);
            y = _mm512_madd52hi_epu64(y, q, m[j - 1]);
            t[j] = _mm512_add_epi64(x, y);
        }
        __m512i x = _mm512_madd52hi_epu64(t[L], ai, b[L - 1]);
        t[L] = _mm512_madd52hi_epu64(x, q, m[L - 1]);
    }
    /* result = acc[L .. 2L-1] (+ carries), < 2m < R: normalize to 52-bit limbs */
    __m512i carry = zero;
    for (int k = 0; k < L; k++) {
        __m512i v = _mm512_add_epi64(acc[L + k], carry);
        carry = _mm512_srli_epi64(v, 52);
        r[k] = _mm512_and_si512(v, mask);
    }
}

/* out = T[k] for secret k: every entry is read, selected by an all-ones/all-zeros mask. */
TGT static void table_select(__m512i *out, const __m512i *table, unsigned k, int L) {
    for (int j = 0; j < L; j++) out[j] = _mm512_setzero_si512();
    for (unsigned idx = 0; idx < TABLE; idx++) {
        /* ((idx ^ k) - 1) >> 63 is 1 exactly when idx == k (both < 2^31), with no branch */
        uint64_t eq = (uint64_t)((uint64_t)(idx ^ k) - 1) >> 63;
        const __m512i sel = _mm512_set1_epi64((long long)(0 - eq));
        const __m512i *row = table + (size_t)idx * L;
        for (int j = 0; j < L; j++)
            out[j] = _mm512_or_si512(out[j], _mm512_and_si512(row[j], sel));
    }
}

static unsigned exp_window(const uint8_t *e, size_t ne, size_t lo, int width) {
    unsigned v = 0;
    for (int b = 0; b < width; b++) {
        size_t pos = lo + (size_t)b;
        unsigned bit = pos / 8 < ne ? (e[pos / 8] >> (pos % 8)) & 1u : 0u;
        v |= bit << b;
    }
    return v;
}

/* x[lane] = base[lane]^e mod m (result <= m, lanes in limb layout), 8 lanes. */
TGT static void powm8(__m512i *x, const __m512i *base, const uint8_t *e, size_t ne,
                      size_t e_bits, const __m512i *m, const __m512i *rr, __m512i k0, int L,
                      __m512i *table, __m512i *acc, __m512i *tmp) {
    /* Montgomery 1 = AMM(R^2, 1); T[1] = AMM(base, R^2); T[k] = AMM(T[k-1], T[1]) */
    __m512i *one = tmp;
    for (int j = 0; j < L; j++) one[j] = _mm512_setzero_si512();
    one[0] = _mm512_set1_epi64(1);
    amm(table, rr, one, m, k0, L, acc);
    amm(table + L, base, rr, m, k0, L, acc);
    for (int k = 2; k < TABLE; k++)
        amm(table + (size_t)k * L, table + (size_t)(k - 1) * L, table + L, m, k0, L, acc);
    size_t windows = (e_bits + WIN - 1) / WIN;
    if (windows == 0) {
        for (int j = 0; j < L; j++) x[j] = table[j];
    } else {
        size_t top = (windows - 1) * WIN;
        table_select(x, table, exp_window(e, ne, top, (int)(e_bits - top)), L);
        for (size_t w = windows - 1; w-- > 0;) {
            for (int s = 0; s < WIN; s++) amm(x, x, x, m, k0, L, acc);
            table_select(tmp, table, exp_window(e, ne, w * WIN, WIN), L);
            amm(x, x, tmp, m, k0, L, acc);
        }
    }
    /* out of Montgomery form: AMM(x, 1) <= m */
    for (int j = 0; j < L; j++) tmp[j] = _mm512_setzero_si512();
    tmp[0] = _mm512_set1_epi64(1);
    amm(x, x, tmp, m, k0, L, acc);
}

/* bytes of scratch for run_batch: m, rr, base, x, tmp (L vectors each), acc (2L+1), table */
static size_t batch_bytes(int L) { return ((size_t)L * (5 + TABLE) + 2 * (size_t)L + 1) * 64; }

/* out[k] = bases[k]^e mod m (+ m at most) for k < count, 8 lanes at a time. */
TGT static void run_batch(const uint8_t *in, Py_ssize_t count, const uint8_t *e, size_t ne,
                          size_t e_bits, const uint8_t *mb, const uint8_t *rrb, size_t nb,
                          uint64_t k0v, int L, uint64_t *mem, uint8_t *out) {
    __m512i *V = (__m512i *)mem;
    __m512i *vm = V, *vrr = V + L, *vb = V + 2 * L, *vx = V + 3 * L, *vt = V + 4 * L;
    __m512i *acc = V + 5 * L, *table = acc + 2 * L + 1;
    const __m512i k0 = _mm512_set1_epi64((long long)(k0v & MASK52));
    for (int lane = 0; lane < LANES; lane++) {
        to_limbs(mb, nb, (uint64_t *)vm, L, lane);
        to_limbs(rrb, nb, (uint64_t *)vrr, L, lane);
    }
    for (Py_ssize_t g = 0; g < count; g += LANES) {
        for (int lane = 0; lane < LANES; lane++) {
            Py_ssize_t idx = g + lane < count ? g + lane : g; /* pad with lane 0's base */
            to_limbs(in + (size_t)idx * nb, nb, (uint64_t *)vb, L, lane);
        }
        powm8(vx, vb, e, ne, e_bits, vm, vrr, k0, L, table, acc, vt);
        for (int lane = 0; lane < LANES && g + lane < count; lane++)
            from_limbs((const uint64_t *)vx, L, lane, out + (size_t)(g + lane) * nb, nb);
    }
}

static int cpu_has_ifma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512ifma");
}
#else
static int cpu_has_ifma(void) { return 0; }
#endif

static int limbs_for_bits(Py_ssize_t bits) { return (int)((bits + 2 + 51) / 52); }

static PyObject *py_available(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(cpu_has_ifma());
}

static PyObject *py_limbs(PyObject *self, PyObject *args) {
    (void)self;
    Py_ssize_t bits;
    if (!PyArg_ParseTuple(args, "n", &bits)) return NULL;
    return PyLong_FromLong(limbs_for_bits(bits));
}

static PyObject *py_powm(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer bases, e, m, rr;
    Py_ssize_t count, e_bits;
    unsigned long long k0v;
    if (!PyArg_ParseTuple(args, "y*ny*ny*y*K", &bases, &count, &e, &e_bits, &m, &rr, &k0v))
        return NULL;
    PyObject *result = NULL;
    uint64_t *mem = NULL;
    size_t nb = (size_t)m.len;
    int L = limbs_for_bits((Py_ssize_t)nb * 8);
    if (!cpu_has_ifma()) {
        PyErr_SetString(PyExc_RuntimeError, "this CPU lacks AVX-512 IFMA");
        goto done;
    }
    if (nb == 0 || L > MAX_LIMBS || count < 0 || (size_t)bases.len != (size_t)count * nb ||
        (size_t)rr.len != nb || e_bits < 0 || (size_t)e_bits > (size_t)e.len * 8 ||
        !(((const uint8_t *)m.buf)[0] & 1)) {
        PyErr_SetString(PyExc_ValueError, "powm: inconsistent arguments");
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, count * (Py_ssize_t)nb);
    if (result == NULL) goto done;
#if HAVE_X86
    mem = aligned_alloc(64, batch_bytes(L));
    if (mem == NULL) {
        Py_CLEAR(result);
        PyErr_NoMemory();
        goto done;
    }
    {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
        Py_BEGIN_ALLOW_THREADS;
        run_batch(bases.buf, count, e.buf, (size_t)e.len, (size_t)e_bits, m.buf, rr.buf, nb,
                  (uint64_t)k0v, L, mem, out);
        Py_END_ALLOW_THREADS;
    }
#endif
done:
    free(mem);
    PyBuffer_Release(&bases);
    PyBuffer_Release(&e);
    PyBuffer_Release(&m);
    PyBuffer_Release(&rr);
    return result;
}

static PyMethodDef methods[] = {
    {"available", py_available, METH_NOARGS, "True if the CPU (and OS) support AVX-512 IFMA."},
    {"limbs", py_limbs, METH_VARARGS, "52-bit limbs L used for a modulus of the given bits."},
    {"powm", py_powm, METH_VARARGS,
     "powm(bases, count, e, e_bits, m, rr, k0) -> bytes: base^e mod m (+ m at most), 8 at a time."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_modexp",
    "Multi-buffer Montgomery modexp on AVX-512 IFMA (8 bases sharing one exponent).", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__modexp(void) { return PyModule_Create(&module); }
