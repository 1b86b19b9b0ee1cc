/* state.h -- checkpoint files made of sections, streamed with a running
 * SHA-256, written atomically, optionally by a forked child.
 *
 * Each module saves and loads its own section, tagged with the module's type
 * (a four-character code, MEND_CKPT_KIND) and its own version, through the
 * ordinary struct mend_wbuf / struct mend_rbuf calls: the section's buffer
 * streams to the file as it fills and from the file as it is read, so no
 * part of the process holds the whole state in memory (the writer keeps
 * about MEND_STATE_FLUSH_DEFAULT + 64 KiB, the reader 64 KiB).
 *
 * File layout (format 2), integers little-endian:
 *
 *   offset  size  field
 *        0     8  magic "MENDCKPT"
 *        8     4  file-format version (MEND_CKPT_FORMAT)
 *       12     4  kind: which program/state wrote it
 *       16     .  sections, each:
 *                   4  tag (never 0)
 *                   4  section version
 *                   .  chunks: 4-byte length n (1..MEND_STATE_CHUNK_MAX),
 *                      then n bytes; a length of 0 ends the section
 *        .     4  0 (end of sections)
 *        .    32  SHA-256 over every byte before it
 *
 * Chunks exist so a section can be written before its length is known.
 *
 * Writing: begin, then for each module section_begin / write into the
 * returned buffer / section_end, then commit (or abort). The bytes go to a
 * temporary file "<path>.tmp.XXXXXX" (mode 0600: state may hold data from
 * the input) in the target's directory, which commit fsyncs, renames over
 * path, and follows with an fsync of the directory, so a crash leaves the
 * old or the new file, never a mix. Abort, and any failed commit, removes
 * the temporary file; a process killed mid-write leaves it behind, which
 * mend_state_clean_temps() removes at the next start.
 *
 * Reading never half-loads: open reads the whole file once, checking its
 * structure and SHA-256 (and kind) before it returns, and only then are the
 * sections handed out, one by one in file order, each streamed from the
 * file. The SHA-256 only catches accidental damage: a loader still checks
 * every count it reads against what it refers to (mend_rbuf_remaining()
 * bounds what a count may claim).
 *
 * Errors: functions return 0 or a negative MEND_E* code; when err is given
 * (errlen > 0) a NUL-terminated message naming the path is written to it. */
#ifndef MEND_STATE_H
#define MEND_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "mend/checkpoint.h"
#include "mend/common.h"

/* Largest chunk a reader accepts; writers cut longer runs into pieces. */
#define MEND_STATE_CHUNK_MAX ((size_t)1 << 20)
/* Bytes a section buffers before they go to the file. */
#define MEND_STATE_FLUSH_DEFAULT ((size_t)1 << 16)
/* Sections in one file (the reader's index is bounded by this). */
#define MEND_STATE_MAX_SECTIONS 65536u

/* ---- writer ------------------------------------------------------------- */

struct mend_state_writer;

/* Starts a checkpoint that will replace path on commit. Creates the
 * temporary file and writes the header. Returns 0 with *out set, or
 * MEND_EINVAL (bad arguments), MEND_ENOMEM, MEND_EIO (cannot create the
 * temporary file: missing directory, permissions). */
int mend_state_write_begin(const char *path, uint32_t kind, struct mend_state_writer **out,
                           char *err, size_t errlen);

/* Bytes a section buffers before they go to the file (default
 * MEND_STATE_FLUSH_DEFAULT; >= 1). Takes effect at the next section_begin;
 * tests use a tiny value to push every section through many flushes. */
void mend_state_write_set_flush(struct mend_state_writer *w, size_t threshold);

/* Opens a section. tag must not be 0. Returns the buffer to write the
 * section's bytes into (owned by the writer, valid until section_end), or
 * NULL when tag is 0, a section is already open, or the writer has failed
 * (commit then reports why). */
struct mend_wbuf *mend_state_section_begin(struct mend_state_writer *w, uint32_t tag,
                                           uint32_t version);

/* Closes the open section: the rest of its buffer goes to the file. Returns
 * 0, or the writer's first error (MEND_ENOMEM when the buffer failed to
 * grow, MEND_EIO on a write error, MEND_EINVAL when no section is open). */
int mend_state_section_end(struct mend_state_writer *w);

/* Ends the file (end mark, SHA-256), fsyncs, renames it over path and fsyncs
 * the directory. Always frees w. Returns 0, or the first error met since
 * begin (then the temporary file is removed and the old file at path, if
 * any, is untouched). MEND_EIO after the rename means only the directory
 * fsync failed: the new file is in place, its durability unconfirmed (err
 * says so). Committing with a section still open is MEND_EINVAL. */
int mend_state_write_commit(struct mend_state_writer *w, char *err, size_t errlen);

/* Drops the checkpoint: removes the temporary file and frees w (NULL ok). */
void mend_state_write_abort(struct mend_state_writer *w);

/* Path of the temporary file being written (for messages and tests). */
const char *mend_state_write_temp_path(const struct mend_state_writer *w);

/* The whole write in one call: begin, save(ctx, w), commit. save writes its
 * sections and returns 0 or a negative code (which aborts the write and is
 * returned). */
typedef int (*mend_state_save_fn)(const void *ctx, struct mend_state_writer *w);
int mend_state_save(const char *path, uint32_t kind, mend_state_save_fn save, const void *ctx,
                    char *err, size_t errlen);

/* ---- reader ------------------------------------------------------------- */

struct mend_state_reader;

/* Opens and verifies the checkpoint at path (one streaming pass over the
 * whole file: structure, SHA-256, then kind). Returns 0 with *out set, or:
 *   MEND_ENOTFOUND  no file at path (the caller starts fresh)
 *   MEND_EIO        the file exists but cannot be opened or read
 *   MEND_ECORRUPT   not a mend checkpoint, truncated, trailing bytes, bad
 *                   structure, checksum mismatch
 *   MEND_EVERSION   unsupported file-format version (format 1 files too),
 *                   or a foreign kind
 *   MEND_ECAP       more than MEND_STATE_MAX_SECTIONS sections
 *   MEND_ENOMEM, MEND_EINVAL
 * The file stays open until close; nothing is loaded yet. */
int mend_state_read_open(const char *path, uint32_t kind, struct mend_state_reader **out,
                         char *err, size_t errlen);

/* Number of sections in the file. */
uint32_t mend_state_read_count(const struct mend_state_reader *r);

/* Moves to the next section (in file order) and hands out its tag,
 * version and a read buffer over its bytes (owned by the reader, valid until
 * the next read_section or close; mend_rbuf_remaining() is the section's
 * length). Sections need not be consumed: an unknown one can be skipped by
 * asking for the next. Returns 0, MEND_ENOTFOUND after the last section. A
 * refill that fails on I/O makes the buffer failed; read_done says EIO. */
int mend_state_read_section(struct mend_state_reader *r, uint32_t *tag, uint32_t *version,
                            struct mend_rbuf **rb);

/* Checks that the current section was read exactly: 0, MEND_ECORRUPT when
 * a read ran past its end or bytes are left over, MEND_EIO when reading
 * the file failed. err names the path and the section's tag. */
int mend_state_read_done(struct mend_state_reader *r, char *err, size_t errlen);

/* Closes the file and frees r (NULL ok). */
void mend_state_read_close(struct mend_state_reader *r);

/* ---- background writer (fork) ------------------------------------------- */

/* A checkpoint written by a forked child, as Redis's BGSAVE: the child
 * holds a copy-on-write image of the parent's memory, so save() sees the
 * state as it was at the fork while the parent keeps ingesting. The child
 * runs only save() and the writer and leaves with _exit(); save() must not
 * take locks that other threads of the parent may hold at the fork, and the
 * parent must not ignore SIGCHLD (the status could not be reaped). */
struct mend_state_bg;

/* Forks; the child runs mend_state_save(path, kind, save, ctx) and exits
 * with its code, passing its error text back through a pipe. Returns 0 with
 * *out set in the parent, or MEND_EIO (pipe/fork failed: nothing runs) or
 * MEND_ENOMEM. path and ctx are borrowed only until fork returns. */
int mend_state_save_bg(const char *path, uint32_t kind, mend_state_save_fn save, const void *ctx,
                       struct mend_state_bg **out, char *err, size_t errlen);

/* A descriptor that becomes readable (EOF) when the child has finished, for
 * an event loop; reap afterwards. */
int mend_state_bg_fd(const struct mend_state_bg *bg);

/* The child's result. With wait == 0 returns MEND_EAGAIN while the child
 * runs; otherwise (or with wait != 0, after blocking) the child's result:
 * 0 when the checkpoint is committed, else its negative code with its
 * message in err (MEND_EIO "killed by signal N" when it died; its temporary
 * file is then removed). Once a result other than MEND_EAGAIN is returned
 * further calls return the same result. */
int mend_state_bg_reap(struct mend_state_bg *bg, int wait, char *err, size_t errlen);

/* Frees bg; a child still running is waited for first (no zombie is left).
 * NULL ok. */
void mend_state_bg_free(struct mend_state_bg *bg);

/* ---- maintenance -------------------------------------------------------- */

/* Removes temporary files of path ("<path>.tmp.XXXXXX") left by a writer
 * that was killed. Call at start, before any writer of this path runs: a
 * writer running at the same time would lose its file. *removed (may be
 * NULL) gets the count. A missing directory is not an error (nothing to
 * clean). Returns 0, MEND_EIO (directory unreadable or an unlink failed),
 * MEND_ENOMEM, MEND_EINVAL. */
int mend_state_clean_temps(const char *path, unsigned *removed, char *err, size_t errlen);

#endif
