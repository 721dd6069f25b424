/*
 * mobilekit: count ARM64 instructions executed between marker syscalls (qemu TCG plugin).
 *
 * The guest marks the region it wants counted with the syscall getpid (aarch64 number 172,
 * which ignores its arguments) called with x0 = MARK_MAGIC and x1 = MARK_START or MARK_END.
 * Every translated block adds its instruction count inline to a global counter and to a
 * per-block-address counter; at a start marker both are snapshotted, at an end marker the
 * differences are added to the window's totals. At exit the plugin writes, to out=<path>:
 *
 *   window <index> <instructions>           one line per start/end pair, in order
 *   block <vaddr hex> <instructions>        instructions executed inside windows, per block start
 *
 * Debian ships no qemu-plugin.h, so the handful of API declarations used are written out below
 * from QEMU 7.2's include/qemu/qemu-plugin.h (plugin API version 1). Inline counters are not
 * atomic: the guest must run the counted region on one thread (the benchmark uses 1 thread).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>

/* ---- the subset of QEMU 7.2's plugin API this plugin uses -------------------------------- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

typedef struct qemu_info_t {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;

struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                              uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);
QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv);

/* ---- counting ---------------------------------------------------------------------------- */
#define SYS_GETPID_AARCH64 172
#define MARK_MAGIC 0x6d6b62656e6368ULL /* "mkbench" */
#define MARK_START 1
#define MARK_END 2
#define MAX_WINDOWS 4096

typedef struct {
    uint64_t vaddr;
    uint64_t insns;    /* incremented inline by every execution of a block starting here */
    uint64_t base;     /* insns at the last start marker */
    uint64_t windowed; /* instructions executed inside windows */
} entry_t;

/* Entries are allocated one by one and never move (inline counters point into them); the hash
 * table of pointers and the list of all entries grow freely. */
static entry_t **table, **entries;
static size_t capacity = 1 << 16, n_entries, entries_cap;
static uint64_t total_insns, total_base;
static uint64_t windows[MAX_WINDOWS];
static int n_windows, in_window, failed;
static char out_path[4096];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot(uint64_t vaddr, size_t cap) { return (size_t)((vaddr >> 2) * 0x9E3779B97F4A7C15ULL) & (cap - 1); }

static int grow(void)
{
    size_t cap = capacity * 2;
    entry_t **bigger = calloc(cap, sizeof(entry_t *));
    if (!bigger) {
        return 0;
    }
    for (size_t i = 0; i < n_entries; i++) {
        size_t j = slot(entries[i]->vaddr, cap);
        while (bigger[j]) {
            j = (j + 1) & (cap - 1);
        }
        bigger[j] = entries[i];
    }
    free(table);
    table = bigger;
    capacity = cap;
    return 1;
}

static entry_t *lookup(uint64_t vaddr)
{
    if ((n_entries + 1) * 2 > capacity && !grow()) {
        return NULL;
    }
    size_t i = slot(vaddr, capacity);
    while (table[i] && table[i]->vaddr != vaddr) {
        i = (i + 1) & (capacity - 1);
    }
    if (table[i]) {
        return table[i];
    }
    if (n_entries == entries_cap) {
        size_t cap = entries_cap ? entries_cap * 2 : 65536;
        entry_t **more = realloc(entries, cap * sizeof(entry_t *));
        if (!more) {
            return NULL;
        }
        entries = more;
        entries_cap = cap;
    }
    entry_t *e = calloc(1, sizeof(entry_t));
    if (!e) {
        return NULL;
    }
    e->vaddr = vaddr;
    table[i] = e;
    entries[n_entries++] = e;
    return e;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    uint64_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total_insns, n);
    pthread_mutex_lock(&lock);
    entry_t *e = lookup(qemu_plugin_tb_vaddr(tb));
    if (e) {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &e->insns, n);
    } else {
        failed = 1; /* out of memory: the per-block breakdown is incomplete, the totals are not */
    }
    pthread_mutex_unlock(&lock);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    if (num != SYS_GETPID_AARCH64 || a1 != MARK_MAGIC) {
        return;
    }
    if (a2 == MARK_START && !in_window) {
        in_window = 1;
        total_base = total_insns;
        for (size_t i = 0; i < n_entries; i++) {
            entries[i]->base = entries[i]->insns;
        }
    } else if (a2 == MARK_END && in_window) {
        in_window = 0;
        if (n_windows < MAX_WINDOWS) {
            windows[n_windows++] = total_insns - total_base;
        }
        for (size_t i = 0; i < n_entries; i++) {
            entries[i]->windowed += entries[i]->insns - entries[i]->base;
        }
    }
}

static void write_results(qemu_plugin_id_t id, void *userdata)
{
    FILE *f = fopen(out_path, "w");
    if (!f) {
        qemu_plugin_outs("insn_count: cannot open the output file\n");
        return;
    }
    fprintf(f, "version 1\nincomplete %d\n", failed);
    for (int i = 0; i < n_windows; i++) {
        fprintf(f, "window %d %llu\n", i, (unsigned long long)windows[i]);
    }
    for (size_t i = 0; i < n_entries; i++) {
        if (entries[i]->windowed) {
            fprintf(f, "block %llx %llu\n", (unsigned long long)entries[i]->vaddr, (unsigned long long)entries[i]->windowed);
        }
    }
    fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "out=", 4) == 0) {
            snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
        }
    }
    if (!out_path[0]) {
        qemu_plugin_outs("insn_count: pass out=<file>\n");
        return -1;
    }
    table = calloc(capacity, sizeof(entry_t *));
    if (!table) {
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, write_results, NULL);
    return 0;
}
