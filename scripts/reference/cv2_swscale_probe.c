/*
 * LD_PRELOAD probe: logs how cv2's FFmpeg backend sets up libswscale (options, init, scale calls), to learn
 * which flags and colourspace settings OpenCV uses for YUV->BGR. Nothing is changed; every call is
 * forwarded to the real function in the libraries bundled with opencv-python-headless.
 *
 *   L=/root/pyref/lib/python3.11/site-packages/opencv_python_headless.libs
 *   gcc -shared -fPIC -O1 -o /tmp/cv2_swscale_probe.so scripts/reference/cv2_swscale_probe.c -ldl
 *   PROBE_AVUTIL=$(ls $L/libavutil-*.so*) PROBE_SWSCALE=$(ls $L/libswscale-*.so*) \
 *     LD_PRELOAD=/tmp/cv2_swscale_probe.so python -c \
 *     "import cv2; cv2.VideoCapture('.cache/media/single_face.mp4').read()"
 *
 * Seen with opencv-python-headless 5.0.0.93 (swscale 9.5.101): av_opt_set_int(SWScaler, sws_flags, 4) and
 * (SWScaler, threads, 2), then sws_scale_frame per frame; no sws_init_context, sws_getContext or
 * sws_setColorspaceDetails on the capture path.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* cv2 loads FFmpeg privately (RTLD_LOCAL), so RTLD_NEXT cannot see it: open the bundled files by path. */
static void *real(const char *name) {
    static void *libs[2];
    const char *env[2] = {"PROBE_AVUTIL", "PROBE_SWSCALE"};
    for (int i = 0; i < 2; i++) {
        if (!libs[i] && getenv(env[i])) libs[i] = dlopen(getenv(env[i]), RTLD_NOW);
        void *p = libs[i] ? dlsym(libs[i], name) : NULL;
        if (p) return p;
    }
    fprintf(stderr, "[probe] cannot find %s (set PROBE_AVUTIL / PROBE_SWSCALE)\n", name);
    abort();
}

/* Every AVOptions-enabled struct starts with a pointer to its AVClass, whose first field is the name. */
static const char *class_name(void *obj) {
    const char *const *const *cls = obj;
    return (obj && *cls && **cls) ? **cls : "?";
}

int av_opt_set_int(void *obj, const char *name, int64_t val, int flags) {
    int (*f)(void *, const char *, int64_t, int) = real("av_opt_set_int");
    int r = f(obj, name, val, flags);
    fprintf(stderr, "[probe] av_opt_set_int(%s, %s, %lld) -> %d\n", class_name(obj), name, (long long)val, r);
    return r;
}

int av_opt_set(void *obj, const char *name, const char *val, int flags) {
    int (*f)(void *, const char *, const char *, int) = real("av_opt_set");
    int r = f(obj, name, val, flags);
    fprintf(stderr, "[probe] av_opt_set(%s, %s, %s) -> %d\n", class_name(obj), name, val, r);
    return r;
}

int sws_init_context(void *ctx, void *src_filter, void *dst_filter) {
    int (*f)(void *, void *, void *) = real("sws_init_context");
    fprintf(stderr, "[probe] sws_init_context\n");
    return f(ctx, src_filter, dst_filter);
}

void *sws_getContext(int sw, int sh, int sf, int dw, int dh, int dfmt, int flags, void *a, void *b,
                     const double *p) {
    void *(*f)(int, int, int, int, int, int, int, void *, void *, const double *) = real("sws_getContext");
    fprintf(stderr, "[probe] sws_getContext(%dx%d fmt %d -> %dx%d fmt %d, flags 0x%x)\n", sw, sh, sf, dw, dh,
            dfmt, flags);
    return f(sw, sh, sf, dw, dh, dfmt, flags, a, b, p);
}

int sws_scale_frame(void *ctx, void *dst, const void *src) {
    static int calls;
    int (*f)(void *, void *, const void *) = real("sws_scale_frame");
    if (calls++ < 3) fprintf(stderr, "[probe] sws_scale_frame (call %d)\n", calls);
    return f(ctx, dst, src);
}

int sws_scale(void *ctx, const uint8_t *const src[], const int ss[], int y, int h, uint8_t *const dst[],
              const int ds[]) {
    static int calls;
    int (*f)(void *, const uint8_t *const *, const int *, int, int, uint8_t *const *, const int *) =
        real("sws_scale");
    if (calls++ < 3) fprintf(stderr, "[probe] sws_scale (call %d, rows %d..%d)\n", calls, y, y + h);
    return f(ctx, src, ss, y, h, dst, ds);
}
