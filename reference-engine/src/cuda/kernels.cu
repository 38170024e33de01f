// Kernels of the reference engine's CUDA backend, compiled at run time with NVRTC.
// bf16 values are stored as unsigned short and converted with bit shifts, so no CUDA header
// is needed. Arithmetic is f32; results are rounded to bf16 where transformers rounds them.

typedef unsigned short bf16;

__device__ __forceinline__ float b2f(bf16 v) { return __uint_as_float(((unsigned int)v) << 16); }

__device__ __forceinline__ bf16 f2b(float f) {
    unsigned int u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (bf16)((u >> 16) | 0x40u);  // NaN stays NaN
    u += 0x7fffu + ((u >> 16) & 1u);                                          // round to nearest even
    return (bf16)(u >> 16);
}

// out[row] = table[ids[row]]; grid n, block any.
extern "C" __global__ void embed(const bf16* table, const unsigned int* ids, bf16* out, int h) {
    const bf16* src = table + (size_t)ids[blockIdx.x] * h;
    bf16* dst = out + (size_t)blockIdx.x * h;
    for (int i = threadIdx.x; i < h; i += blockDim.x) dst[i] = src[i];
}

// transformers' Qwen2RMSNorm in bf16: w * bf16(x * rsqrt(mean(x^2) + eps)), statistics in f32.
// grid n, block 256 (a power of two), shared 256 floats.
extern "C" __global__ void rms_norm(const bf16* x, const bf16* w, bf16* out, int h, float eps) {
    __shared__ float partial[256];
    const bf16* row = x + (size_t)blockIdx.x * h;
    float s = 0.0f;
    for (int i = threadIdx.x; i < h; i += blockDim.x) { float v = b2f(row[i]); s += v * v; }
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    float scale = rsqrtf(partial[0] / (float)h + eps);
    bf16* dst = out + (size_t)blockIdx.x * h;
    for (int i = threadIdx.x; i < h; i += blockDim.x) dst[i] = f2b(b2f(w[i]) * b2f(f2b(b2f(row[i]) * scale)));
}

// y[i] += b[i % width], rounded to bf16.
extern "C" __global__ void add_bias(bf16* y, const bf16* b, int count, int width) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] = f2b(b2f(y[i]) + b2f(b[i % width]));
}

// x[i] += y[i], rounded to bf16 (the residual adds).
extern "C" __global__ void add(bf16* x, const bf16* y, int count) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) x[i] = f2b(b2f(x[i]) + b2f(y[i]));
}

// gate[i] = bf16(silu(gate[i])) * up[i], rounded to bf16.
extern "C" __global__ void silu_mul(bf16* gate, const bf16* up, int count) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) {
        float g = b2f(gate[i]);
        gate[i] = f2b(b2f(f2b(g / (1.0f + expf(-g)))) * b2f(up[i]));
    }
}

// Rotary embedding, rotate-half, in place on [n, heads, hd] from absolute position `start`.
// Angles in f32; cos and sin rounded to bf16 as transformers casts them. grid (n, heads).
extern "C" __global__ void rope(bf16* x, const float* inv_freq, int heads, int hd, int start) {
    int half = hd / 2;
    bf16* v = x + ((size_t)blockIdx.x * heads + blockIdx.y) * hd;
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float angle = (float)(start + (int)blockIdx.x) * inv_freq[i];
        float c = b2f(f2b(cosf(angle))), s = b2f(f2b(sinf(angle)));
        float x1 = b2f(v[i]), x2 = b2f(v[i + half]);
        v[i] = f2b(b2f(f2b(x1 * c)) + b2f(f2b(-x2 * s)));
        v[i + half] = f2b(b2f(f2b(x2 * c)) + b2f(f2b(x1 * s)));
    }
}

// Causal grouped-query attention for one query row and head: grid (n, heads), block 128
// (a power of two), dynamic shared memory (start + n) floats. Scores and softmax in f32.
extern "C" __global__ void attention(const bf16* q, const bf16* k, const bf16* v, bf16* out,
                                     int start, int heads, int kv_heads, int hd, float scale) {
    extern __shared__ float scores[];
    __shared__ float red[128];
    int r = blockIdx.x, head = blockIdx.y, kvh = head / (heads / kv_heads);
    int visible = start + r + 1;
    int q_dim = heads * hd, kv_dim = kv_heads * hd;
    const bf16* qv = q + (size_t)r * q_dim + (size_t)head * hd;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) {
        const bf16* kj = k + (size_t)j * kv_dim + (size_t)kvh * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; ++d) s += b2f(qv[d]) * b2f(kj[d]);
        scores[j] = s * scale;
    }
    __syncthreads();
    float m = __int_as_float(0xff800000);  // -inf, without a header
    for (int j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, scores[j]);
    red[threadIdx.x] = m;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + stride]);
        __syncthreads();
    }
    m = red[0];
    __syncthreads();
    float sum = 0.0f;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) { float e = expf(scores[j] - m); scores[j] = e; sum += e; }
    red[threadIdx.x] = sum;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) red[threadIdx.x] += red[threadIdx.x + stride];
        __syncthreads();
    }
    sum = red[0];
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < visible; ++j) acc += scores[j] * b2f(v[(size_t)j * kv_dim + (size_t)kvh * hd + d]);
        out[(size_t)r * q_dim + (size_t)head * hd + d] = f2b(acc / sum);
    }
}
