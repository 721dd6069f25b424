"""The shape of mobilekit.toml: one frozen dataclass per section.

Every field carries its documentation and its validation rule in ``option(...)`` metadata, so the
loader, `mobilekit init`'s commented template and the README's reference come from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mobilekit import variants as _v

TASKS = ("text-classification", "sentence-embedding", "text-generation")
ENCODER_TASKS = ("text-classification", "sentence-embedding")
# Variant names come from the registry (mobilekit.variants), in its order.
TFLITE_VARIANTS = _v.names(_v.TFLITE)
# Which variants each kind of model can have (checked by the loader, with the reason in its hint).
ENCODER_TFLITE_VARIANTS = _v.names(_v.TFLITE, _v.ENCODER)
LLM_TFLITE_VARIANTS = _v.names(_v.TFLITE, _v.GENERATION)
LLM_TFLITE_DEFAULT = _v.default_names(_v.TFLITE, _v.GENERATION)
INT4_BLOCK_SIZES = (32, 64, 128, 256)
TFLITE_ROUTES = ("onnx2tf", "litert-torch")
COREML_VARIANTS = _v.names(_v.COREML)
ENCODER_COREML_VARIANTS = _v.names(_v.COREML, _v.ENCODER)
COREML_DEFAULT = _v.default_names(_v.COREML, _v.ENCODER)
DATA_FORMATS = ("auto", "csv", "tsv", "jsonl")
ARM_CPUS = ("cortex-a76", "cortex-a53")
BACKENDS = ("auto", "gloo", "nccl")
PRECISIONS = ("fp32", "bf16", "fp16")

REQUIRED = object()  # sentinel: the key must be present in the file
DERIVED = object()  # sentinel: computed from other keys when absent (see loader.derive_names)


def option(
    default: Any,
    help: str,
    *,
    kind: str | None = None,
    choices: tuple | None = None,
    min: float | None = None,
    max: float | None = None,
    example: Any = None,
) -> Any:
    """A config key. ``kind`` is one of: str, int, float, bool, path, file, dir, list[str],
    list[int], choice, list[choice], kotlin_package, type_name, swift_module, maven_id,
    length_buckets (a list of integers or "auto")."""
    meta = {"help": help, "kind": kind, "choices": choices, "min": min, "max": max, "example": example}
    if default is REQUIRED or default is DERIVED:
        return field(default=None, metadata={**meta, "required": default is REQUIRED, "derived": default is DERIVED})
    if isinstance(default, list):
        default = tuple(default)
    return field(default=default, metadata={**meta, "required": False, "derived": False})


@dataclass(frozen=True)
class ProjectConfig:
    name: str = option(REQUIRED, "Human-readable project name; SDK names are derived from it.", kind="str", example="Movie sentiment")
    version: str = option("0.1.0", "Version written into the SDKs (POM, Package.swift comments).", kind="str")
    build_dir: Path = option(Path("build"), "Where every artifact and the manifest go (relative to this file).", kind="path")


@dataclass(frozen=True)
class ModelConfig:
    path: Path = option(REQUIRED, "Hugging Face model folder (config.json, weights, tokenizer files).", kind="dir", example="model")
    task: str = option(REQUIRED, "What the model does.", kind="choice", choices=TASKS, example="text-classification")
    sequence_length: int = option(128, "Fixed number of tokens per input on device (padding/truncation); text-generation: the length of training and perplexity windows.", kind="int", min=2, max=4096)
    labels: tuple[str, ...] | None = option(None, "Class names in output order (classification); default: the model's id2label.", kind="list[str]")
    pooling: str = option("mean", "Sentence embedding pooling over tokens (sentence-embedding).", kind="choice", choices=("mean", "cls"))
    normalize: bool = option(True, "L2-normalize sentence embeddings (sentence-embedding).", kind="bool")
    length_buckets: tuple[int, ...] | str | None = option(None, "Encoders: sequence lengths that each get a signature of the one TFLite model (sharing its weights); the SDKs run the smallest that holds the text. Ascending, the largest equal to sequence_length (e.g. [16, 32, 64, 128]), or \"auto\": chosen from the task texts' token counts (docs/benchmarks.md). Unset: sequence_length alone. Several buckets need the litert-torch route; Core ML gets them as functions of one package (iOS 18; see convert.coreml_length_buckets).", kind="length_buckets")


@dataclass(frozen=True)
class DataConfig:
    path: Path | None = option(None, "Labelled (or, for embeddings, plain) text: .csv, .tsv or .jsonl.", kind="file")
    format: str = option("auto", "File format; auto picks it from the file extension.", kind="choice", choices=DATA_FORMATS)
    text_column: str = option("text", "Column (or JSON key) holding the text.", kind="str")
    label_column: str = option("label", "Column (or JSON key) holding the label (classification).", kind="str")
    validation_fraction: float = option(0.1, "Share of rows held out for validation.", kind="float", min=0.0, max=0.5)
    test_fraction: float = option(0.1, "Share of rows held out for testing and verification.", kind="float", min=0.0, max=0.5)
    seed: int = option(0, "Seed of the train/validation/test split.", kind="int", min=0)
    unlabelled_path: Path | None = option(None, "Extra unlabelled text for distillation (one text per line).", kind="file")


@dataclass(frozen=True)
class FinetuneConfig:
    enabled: bool = option(False, "Fine-tune the model on [data] before anything else.", kind="bool")
    epochs: int = option(3, "Maximum training epochs (early stopping may end sooner).", kind="int", min=1, max=100)
    batch_size: int = option(32, "Training batch size.", kind="int", min=1, max=4096)
    learning_rate: float = option(5e-5, "AdamW learning rate (linear warm-up over the first 10% of steps, then linear decay).", kind="float", min=1e-7, max=1.0)
    patience: int = option(1, "Epochs without validation improvement before stopping.", kind="int", min=0, max=100)
    max_train_samples: int | None = option(None, "Train on at most this many rows of the training split (default all).", kind="int", min=1)
    lora_rank: int = option(8, "text-generation: rank of the LoRA adapters (merged into the weights afterwards).", kind="int", min=1, max=1024)
    lora_alpha: float = option(16.0, "text-generation: LoRA scaling numerator (the update is scaled by alpha / rank).", kind="float", min=0.001, max=10000.0)
    lora_dropout: float = option(0.05, "text-generation: dropout on the LoRA branch while training.", kind="float", min=0.0, max=0.9)
    lora_target_modules: tuple[str, ...] | None = option(None, "text-generation: module names that get adapters (e.g. q_proj, v_proj); default every linear layer but the output head.", kind="list[str]")


@dataclass(frozen=True)
class GenerationConfig:
    context_length: int = option(256, "text-generation: KV cache length, the prompt + reply tokens one conversation holds on device.", kind="int", min=8, max=8192)
    prefill_lengths: tuple[int, ...] = option([64], "text-generation: prompt chunk sizes, one prefill signature each (longer prompts are fed in chunks).", kind="list[int]")
    int4_block_size: int = option(32, "text-generation: weights per int4 scale (block-wise int4; small LLMs collapse with per-channel int4).", kind="int", min=32, max=256)


@dataclass(frozen=True)
class DistillConfig:
    enabled: bool = option(False, "Distill a smaller student from the (fine-tuned) model.", kind="bool")
    layers: tuple[int, ...] | None = option(None, "Teacher layers the student keeps (0-based); default every other one, ending with the last (text-generation: half the depth, dropping one contiguous block of middle layers).", kind="list[int]")
    hidden_size: int | None = option(None, "Student hidden size, smaller than the teacher's and a multiple of its head size (default: the teacher's).", kind="int", min=8)
    intermediate_size: int | None = option(None, "Student feed-forward width; each kept layer keeps the teacher's most important neurons on the training text (default: the teacher's width).", kind="int", min=1)
    heads: int | None = option(None, "Encoders: attention heads each kept layer keeps, the ones that matter most on the training text (Michel et al. 2019: gradient of the loss with respect to a gate on each head); the others are cut out of the weights (default: every head).", kind="int", min=1)
    temperature: float = option(2.0, "Softmax temperature of the soft-target loss.", kind="float", min=0.1, max=100.0)
    alpha: float = option(0.5, "Weight of the soft-target loss (1 - alpha goes to the hard labels).", kind="float", min=0.0, max=1.0)
    hidden_weight: float = option(0.0, "Weight of the hidden-state matching loss (MSE to the teacher's kept layers, TinyBERT-style).", kind="float", min=0.0, max=1000.0)
    attention_weight: float = option(0.0, "Weight of the attention matching loss (MSE to the teacher's kept layers' attention maps).", kind="float", min=0.0, max=1000.0)
    cls_weight: float = option(0.0, "Weight of matching the student's [CLS] states to the teacher's kept layers (Patient KD); unlike hidden_weight it also works after vocabulary trimming.", kind="float", min=0.0, max=1000.0)
    augment: int = option(0, "Perturbed copies of each training text (masked, swapped words, n-grams) added as transfer text the teacher labels.", kind="int", min=0, max=100)
    epochs: int = option(3, "Distillation epochs (the student of the best validation epoch is kept).", kind="int", min=1, max=100)
    batch_size: int = option(32, "Distillation batch size.", kind="int", min=1, max=4096)
    learning_rate: float = option(1e-4, "AdamW learning rate of the student.", kind="float", min=1e-7, max=1.0)
    max_train_samples: int | None = option(None, "Distill on at most this many training texts (labelled + unlabelled; default all).", kind="int", min=1)
    trim_vocabulary: bool = option(False, "Keep only the tokens the task corpus needs (+ every single-character piece and the special tokens).", kind="bool")
    trim_epochs: int = option(1, "With trim_vocabulary: distillation epochs after trimming, so the student learns the smaller pieces that replace dropped tokens (0: none).", kind="int", min=0, max=100)
    trim_word_transfer: bool = option(True, "With trim_vocabulary: the epochs after trimming also distill on every dropped vocabulary word alone, so the student learns what the pieces that now spell it mean.", kind="bool")
    trim_min_count: int = option(1, "With trim_vocabulary: keep a corpus token only when it occurs at least this often in the training text.", kind="int", min=1, max=1000000)
    embedding_table: str = option("full", "Encoders: keep the whole vocabulary (tokenization never changes) and store the word-embedding table compressed: \"int8-rows\" (every row int8 with its own scale, 3.96x smaller, cosine 0.9999 on MiniLM), or \"kmeans\" (exact rows for the most frequent tokens, shared directions times a per-token scale for the rest; docs/compress.md). \"full\": the table as it is.", kind="choice", choices=("full", "int8-rows", "kmeans"))
    embedding_exact_rows: int = option(4096, "With embedding_table = \"kmeans\": rows kept exact, for the tokens most frequent in the task text (and embedding_frequency_path), special and added tokens always.", kind="int", min=1, max=10000000)
    embedding_clusters: int = option(1024, "With embedding_table = \"kmeans\": shared directions (k-means centroids) for all the other rows.", kind="int", min=1, max=1000000)
    embedding_epochs: int = option(1, "With a compressed embedding_table: distillation epochs after compressing, the table frozen, so the rest of the student adapts to it (0: none).", kind="int", min=0, max=100)
    embedding_frequency_path: Path | None = option(None, "With embedding_table = \"kmeans\": extra text (one per line, e.g. general English) whose token counts join the task text's when choosing the exact rows.", kind="file")
    student: str = option("transformer", "Encoders: what to distill into. \"transformer\": fewer/narrower BERT layers (the options above). \"static\": a static token-vector table (model2vec-style: the teacher's output for each token alone, SIF-weighted, averaged over a text; a classifier adds a linear head trained on the teacher's soft targets). A static student needs no ML runtime: the SDKs do a lookup and a mean in plain Kotlin and Swift, and the export/convert/verify/bench stages have nothing to do (docs/compress.md).", kind="choice", choices=("transformer", "static"))
    static_dimensions: int | None = option(None, "With student = \"static\": reduce the token table to this many dimensions by PCA; the mean is projected back, so vectors stay in the teacher's space (default: the teacher's width).", kind="int", min=1)
    static_sif: float = option(1e-3, "With student = \"static\": SIF coefficient a; each token's vector is weighted a / (a + p), p its frequency in the training text (and embedding_frequency_path). 0: an unweighted mean.", kind="float", min=0.0, max=1.0)
    static_train_table: bool = option(False, "With student = \"static\": also train the token table on the teacher's outputs for the training text (distill.epochs, learning_rate, batch_size), not only the classifier head.", kind="bool")


@dataclass(frozen=True)
class ComputeConfig:
    processes: int = option(1, "Training processes per machine for finetune and distill: 1 trains inside mobilekit as always; more (or backend = nccl) starts torchrun, one process per GPU on GPUs. The batch sizes stay global and must divide by processes x nodes.", kind="int", min=1, max=1024)
    nodes: int = option(1, "Machines training together; above 1, run `mobilekit build --set compute.node_rank=R` on every machine with the same config, data and rendezvous (docs/scale.md).", kind="int", min=1, max=1024)
    node_rank: int = option(0, "This machine's index among the nodes, 0 to nodes - 1; node 0 hosts the rendezvous.", kind="int", min=0, max=1023)
    rendezvous: str | None = option(None, "host:port on node 0 that every node can reach (needed when nodes > 1), e.g. \"10.0.0.1:29500\".", kind="str")
    backend: str = option("auto", "torch.distributed backend: gloo trains on CPUs, nccl on CUDA GPUs; auto = gloo, or nccl when more than one process and CUDA is there.", kind="choice", choices=BACKENDS)
    precision: str = option("fp32", "Training arithmetic: fp32, or bf16 / fp16 autocast (nccl on GPUs only; the weights written stay float32).", kind="choice", choices=PRECISIONS)
    checkpoint_steps: int = option(0, "Also checkpoint every this many optimizer steps (0: only at the end of each epoch); a killed training resumes from the last checkpoint.", kind="int", min=0, max=10000000)


@dataclass(frozen=True)
class ExportConfig:
    opset: int = option(17, "ONNX opset.", kind="int", min=13, max=20)
    dynamic_length: bool = option(False, "Export a dynamic sequence axis (TFLite and Core ML stay fixed-length).", kind="bool")


@dataclass(frozen=True)
class ConvertConfig:
    tflite: tuple[str, ...] = option(DERIVED, "TensorFlow Lite variants to build; default all but the opt-in ones (dynamic-int8-int4emb: int8 layers with an int4 word-embedding table, litert-torch route only; float16 for text-generation), full-int8 only when there is calibration text.", kind="list[choice]", choices=TFLITE_VARIANTS)
    tflite_route: str = option("litert-torch", "How TFLite models are made: torch -> TFLite directly (litert-torch, measured 18x faster on MiniLM at equal parity; docs/tflite_routes.md) or ONNX -> onnx2tf.", kind="choice", choices=TFLITE_ROUTES)
    coreml: tuple[str, ...] = option(list(COREML_DEFAULT), "Core ML variants to build (int8-int4emb: int8 with an int4 word-embedding table, iOS 18 / macOS 15).", kind="list[choice]", choices=COREML_VARIANTS)
    coreml_length_buckets: bool = option(True, "Give the Core ML model the length buckets too: a multifunction package with a function per bucket, which needs iOS 18 / macOS 15. false: one function at sequence_length, iOS 16 / macOS 13.", kind="bool")
    calibration_samples: int = option(64, "Task samples used to calibrate full-integer int8.", kind="int", min=1, max=10000)


@dataclass(frozen=True)
class VerifyConfig:
    samples: int = option(200, "Texts each variant is checked on (from the test split, or texts_path).", kind="int", min=1, max=100000)
    texts_path: Path | None = option(None, "Plain text file, one sample per line, used when [data] has none.", kind="file")
    accuracy_budget: float = option(1.0, "Most accuracy points a variant may lose against the float model and still ship.", kind="float", min=0.0, max=100.0)
    strict: bool = option(False, "Fail the build (exit 7) when any variant is rejected.", kind="bool")
    perplexity_budget: float = option(10.0, "text-generation: most relative perplexity increase (percent) a variant may show against the original and still ship.", kind="float", min=0.0, max=1000.0)
    min_greedy_agreement: float = option(0.5, "text-generation: least share of greedy tokens (matched before the first divergence, over all prompts) a variant must reproduce.", kind="float", min=0.0, max=1.0)
    greedy_prompts: int = option(20, "text-generation: prompts whose greedy continuation is compared token by token with PyTorch.", kind="int", min=1, max=10000)
    greedy_tokens: int = option(32, "text-generation: tokens generated per greedy prompt.", kind="int", min=1, max=4096)


@dataclass(frozen=True)
class BenchConfig:
    host: bool = option(True, "Time every variant on the host CPU.", kind="bool")
    emulator: bool = option(True, "Count ARM64 instructions per inference under qemu.", kind="bool")
    cpu: str = option("cortex-a76", "ARM core the emulator pins.", kind="choice", choices=ARM_CPUS)
    runs: int = option(50, "Timed runs per model on the host.", kind="int", min=1, max=100000)
    warmup: int = option(10, "Untimed warm-up runs per model.", kind="int", min=0, max=10000)
    baseline: Path | None = option(None, "Earlier bench JSON to compare ARM64 instruction counts with.", kind="file")
    max_regression_percent: float = option(5.0, "Allowed growth of ARM64 instructions per inference over the baseline.", kind="float", min=0.0, max=1000.0)
    samples: int = option(16, "Real task texts (tokenized) the benchmarks cycle through.", kind="int", min=1, max=10000)
    xnnpack_diagnostic: bool = option(True, "Also time each TFLite variant with XNNPACK off on the host (a diagnostic).", kind="bool")
    emulator_runs: int = option(3, "Inferences counted per variant under qemu, after one warm-up (each guest runs twice).", kind="int", min=1, max=1000)
    device: bool = option(True, "Benchmark on an Android device when `adb devices` lists one.", kind="bool")
    benchmark_model: Path | None = option(None, "TensorFlow Lite's benchmark_model binary built for the device (device tier).", kind="file")
    prompt_tokens: int = option(64, "text-generation: prompt length for time to first token.", kind="int", min=1, max=8192)
    decode_tokens: int = option(32, "text-generation: tokens decoded per timed generation.", kind="int", min=1, max=8192)


@dataclass(frozen=True)
class AndroidConfig:
    enabled: bool = option(True, "Generate and package the Android library.", kind="bool")
    package: str = option(DERIVED, "Kotlin package; default com.example.<project name>.", kind="kotlin_package")
    class_name: str = option(DERIVED, "Wrapper class; default <ProjectName>Classifier or <ProjectName>Embedder.", kind="type_name")
    group_id: str = option(DERIVED, "Maven groupId; default the package.", kind="maven_id")
    artifact_id: str = option(DERIVED, "Maven artifactId; default <project-name>.", kind="maven_id")
    min_sdk: int = option(23, "minSdk of the library.", kind="int", min=23, max=35)
    model_variant: str = option("auto", "TFLite variant shipped in the library; auto = the smallest one verify accepted.", kind="choice", choices=("auto",) + TFLITE_VARIANTS)
    run_tests: bool = option(True, "Compile the library and run its generated JUnit tests while packaging.", kind="bool")


@dataclass(frozen=True)
class IosConfig:
    enabled: bool = option(True, "Generate and package the Swift package.", kind="bool")
    module: str = option(DERIVED, "Swift module and library product; default <ProjectName>Kit.", kind="swift_module")
    class_name: str = option(DERIVED, "Wrapper type; default as on Android.", kind="type_name")
    model_variant: str = option("auto", "Core ML variant shipped in the package; auto = the smallest one verify accepted.", kind="choice", choices=("auto",) + COREML_VARIANTS)
    run_tests: bool = option(True, "Build the package and run its generated XCTest tests (Swift chroot) while packaging.", kind="bool")


@dataclass(frozen=True)
class Config:
    """A validated mobilekit.toml. ``root`` is the folder relative paths were resolved against."""

    project: ProjectConfig
    model: ModelConfig
    data: DataConfig
    finetune: FinetuneConfig
    generation: GenerationConfig
    distill: DistillConfig
    export: ExportConfig
    convert: ConvertConfig
    verify: VerifyConfig
    bench: BenchConfig
    android: AndroidConfig
    ios: IosConfig
    root: Path
    source: Path | None = None  # the file it was read from, when there was one
    compute: ComputeConfig = field(default_factory=ComputeConfig)  # how finetune and distill train (not in fingerprints)

    @property
    def build_dir(self) -> Path:
        return self.project.build_dir


SECTIONS: dict[str, type] = {
    "project": ProjectConfig,
    "model": ModelConfig,
    "data": DataConfig,
    "finetune": FinetuneConfig,
    "generation": GenerationConfig,
    "distill": DistillConfig,
    "compute": ComputeConfig,
    "export": ExportConfig,
    "convert": ConvertConfig,
    "verify": VerifyConfig,
    "bench": BenchConfig,
    "android": AndroidConfig,
    "ios": IosConfig,
}


def section_fields(section: str):
    return fields(SECTIONS[section])
