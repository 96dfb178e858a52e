/* Runs the exported digitlab model on an MNIST-style test set; prints accuracy and a confusion matrix.
 *
 *   cc -std=c99 -O2 -o mnist_c main.c digitlab_model.c
 *   ./mnist_c t10k-images-idx3-ubyte t10k-labels-idx1-ubyte [--logits FILE]
 *
 * The IDX files must be uncompressed (gunzip -k them first). --logits writes the int32 logits (N x C, native
 * byte order) for a bit-exact comparison; multiply by DIGITLAB_LOGIT_SCALE for real-valued logits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digitlab_model.h"

static unsigned char *read_idx(const char *path, int want_dims, uint32_t dims[3]) {
    unsigned char header[4], b[4];
    unsigned char *data;
    size_t count = 1;
    int i;
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "error: %s: cannot open\n", path); exit(1); }
    if (fread(header, 1, 4, f) != 4) { fprintf(stderr, "error: %s: too short\n", path); exit(1); }
    if (header[0] == 0x1f && header[1] == 0x8b) {
        fprintf(stderr, "error: %s: gzip-compressed; gunzip it first\n", path);
        exit(1);
    }
    if (header[0] != 0 || header[1] != 0 || header[2] != 0x08 || header[3] != want_dims) {
        fprintf(stderr, "error: %s: not an IDX file of unsigned bytes with %d dimensions\n", path, want_dims);
        exit(1);
    }
    for (i = 0; i < want_dims; ++i) {
        if (fread(b, 1, 4, f) != 4) { fprintf(stderr, "error: %s: truncated header\n", path); exit(1); }
        dims[i] = ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | (uint32_t)b[3];
        count *= dims[i];
    }
    data = (unsigned char *)malloc(count ? count : 1);
    if (!data || fread(data, 1, count, f) != count) { fprintf(stderr, "error: %s: truncated payload\n", path); exit(1); }
    fclose(f);
    return data;
}

int main(int argc, char **argv) {
    uint32_t image_dims[3], label_dims[3];
    unsigned char *images, *labels;
    const char *logits_path = NULL;
    FILE *logits_file = NULL;
    static long confusion[DIGITLAB_NUM_CLASSES][DIGITLAB_NUM_CLASSES];
    int32_t logits[DIGITLAB_NUM_CLASSES];
    long correct = 0, n, i;
    int r, c;
    clock_t start;
    double seconds;

    if (argc != 3 && !(argc == 5 && strcmp(argv[3], "--logits") == 0)) {
        fprintf(stderr, "usage: %s IMAGES.idx3-ubyte LABELS.idx1-ubyte [--logits FILE]\n", argv[0]);
        return 2;
    }
    if (argc == 5) logits_path = argv[4];
    images = read_idx(argv[1], 3, image_dims);
    labels = read_idx(argv[2], 1, label_dims);
    if (image_dims[1] * image_dims[2] != DIGITLAB_INPUT_SIZE || label_dims[0] != image_dims[0]) {
        fprintf(stderr, "error: expected N images of 28x28 and N labels\n");
        return 1;
    }
    if (logits_path && !(logits_file = fopen(logits_path, "wb"))) {
        fprintf(stderr, "error: %s: cannot write\n", logits_path);
        return 1;
    }
    n = (long)image_dims[0];
    start = clock();
    for (i = 0; i < n; ++i) {
        int best = 0;
        digitlab_forward(images + i * DIGITLAB_INPUT_SIZE, logits);
        for (c = 1; c < DIGITLAB_NUM_CLASSES; ++c)
            if (logits[c] > logits[best]) best = c;
        if (labels[i] >= DIGITLAB_NUM_CLASSES) { fprintf(stderr, "error: label %d out of range\n", labels[i]); return 1; }
        correct += best == labels[i];
        ++confusion[labels[i]][best];
        if (logits_file && fwrite(logits, sizeof logits[0], DIGITLAB_NUM_CLASSES, logits_file) != DIGITLAB_NUM_CLASSES) {
            fprintf(stderr, "error: %s: write failed\n", logits_path);
            return 1;
        }
    }
    seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
    if (logits_file && fclose(logits_file) != 0) { fprintf(stderr, "error: %s: write failed\n", logits_path); return 1; }
    printf("accuracy: %.6f (%ld/%ld)\n", n ? (double)correct / (double)n : 0.0, correct, n);
    printf("confusion matrix (rows: true class, columns: predicted):\n     ");
    for (c = 0; c < DIGITLAB_NUM_CLASSES; ++c) printf("%6d", c);
    printf("\n");
    for (r = 0; r < DIGITLAB_NUM_CLASSES; ++r) {
        printf("%4d ", r);
        for (c = 0; c < DIGITLAB_NUM_CLASSES; ++c) printf("%6ld", confusion[r][c]);
        printf("\n");
    }
    printf("cpu seconds: %.3f (%.0f images/s)\n", seconds, seconds > 0 ? (double)n / seconds : 0.0);
    free(images);
    free(labels);
    return 0;
}
