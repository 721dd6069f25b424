"""Making a model small: fine-tune a teacher, distill a student, trim the vocabulary, evaluate.

One job per module; the stages in ``mobilekit.stages.compress`` wire them together:

- ``corpus``:    the task text of a stage (labelled splits, unlabelled transfer text, label names)
- ``batches``:   tokenizing into dynamically padded batches, pooling sentence embeddings
- ``folders``:   loading and saving Hugging Face model folders (tokenizer files travel along)
- ``finetune``:  supervised training of a teacher classifier with early stopping
- ``student``:   a student initialised from the teacher (kept layers, optional narrower width)
- ``distill``:   the distillation losses and training loop
- ``vocabulary``: trimming the WordPiece vocabulary and the embedding rows together
- ``embedding_table``: or keeping the vocabulary and compressing the embedding table (k-means rows)
- ``evaluate``:  accuracy / macro-F1, cosine / recall@1, parameter count, file size

torch and transformers are imported inside functions, so importing this package is free.
"""
