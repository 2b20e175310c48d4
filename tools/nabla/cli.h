/* cli.h - the nabla command-line tool: one file per command (cmd_*.c), shared helpers here. */
#ifndef NB_CLI_H
#define NB_CLI_H
#include "nabla.h"

/* Each command: argv[0] is the command name; returns the process exit status
 * (0 ok, 1 failure, 2 usage error). */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_augment(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_augment_text(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* `nabla info MODEL.onnx` (cmd_run.c) */
int info_onnx(const char *path);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
/* `nabla train` on text (cmd_train_text.c); cmd_train hands over when
 * cli_is_text_train(argc, argv): --dataset wordnet-glosses|tsv, --model bert_tiny or
 * a model directory (with config.json). */
int cmd_train_text(int argc, char **argv);
int cli_is_text_train(int argc, char **argv);
/* `nabla embed` on text lines with a model directory (cmd_embed_text.c); cmd_embed hands
 * over when --model names a directory with a config.json. */
int cmd_embed_text(int argc, char **argv);
int cli_is_text_model_arg(int argc, char **argv);
/* `nabla run` on a Hugging Face model directory (cmd_run_text.c); cmd_run hands over
 * when --model or the first argument is a directory with a config.json. */
int cmd_run_text(int argc, char **argv);
int cli_is_text_run(int argc, char **argv);
/* Class names in a model directory's config.json (hf_labels.c): id2label's n names
 * (Hugging Face's "LABEL_k" where absent; NULL when out of memory), and writing
 * id2label/label2id into it (0, or -1 with nb_last_error set or a write failure). */
char **cli_hf_labels(const char *dir, int n);
void cli_hf_labels_free(char **names, int n);
/* A run's private working file `name` in a directory made by mkdtemp (mode 0700) under
 * $TMPDIR or /tmp (NULL after printing an error); cli_temp_remove deletes the files and
 * the directory, as the library does if SIGTERM or SIGINT ends the process. (temp_files.c) */
const char *cli_temp_file(const char *name);
void cli_temp_remove(void);
/* `nabla info DIR` of a Hugging Face model directory (info_text.c). */
int cli_is_model_dir(const char *path);
int cli_info_dir(const char *dir);

/* --classes LIST / --per-class N: d restricted with nb_subset_new (takes ownership
 * of d); d itself when neither is given; NULL after printing an error. (subset_args.c) */
nb_dataset *cli_subset(const char *cmd, nb_dataset *d, const char *classes, long per_class, uint64_t seed);

/* The training and test splits name the same classes (or none); else prints an
 * error naming the first difference and returns 2. (check_data.c) */
int cli_check_classes(const char *cmd, const nb_dataset *train, const nb_dataset *test);

/* The JSON-lines log of train --log-json (log_json.c): lines kept in memory, the whole
 * log written atomically by cli_log_write (at each epoch's end). open: NULL after an
 * error naming the path (not a regular file, directory not writable); resume: keep the
 * lines the file holds. write: -1 after an error naming the path. */
typedef struct cli_log cli_log;
cli_log *cli_log_open(const char *path, int resume);
/* A line: the object as cJSON writes it (keys in the order added, no spaces), then
 * freed; a NULL object (cJSON out of memory) fails the next write. */
struct cJSON;
void cli_log_json(cli_log *l, struct cJSON *line);
/* Member key of o: v written with the printf format fmt (a JSON number; null when not
 * finite), for numbers whose precision the log fixes (%.9g, %.3f); -1 when o is NULL or
 * out of memory. */
int cli_json_number(struct cJSON *o, const char *key, const char *fmt, double v);
int cli_log_write(cli_log *l);
void cli_log_close(cli_log *l);

/* Print "nabla: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* OMP_WAIT_POLICY=passive unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set: sets it and
 * executes the program again (libgomp reads it at load); wait_policy.c says why. */
void cli_wait_policy(char **argv);
/* Parse a number option value; prints an error naming the option and returns 0 on failure. */
int cli_int(const char *opt, const char *s, long *out);
int cli_float(const char *opt, const char *s, double *out);

#endif
