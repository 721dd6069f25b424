"""Runners: execute a converted model on the host and return numpy outputs.

Every runner takes a dict of named int32 arrays (``input_ids``, ``attention_mask``,
``token_type_ids``), uses the names its model has, ignores the others, and returns one float32
array with the batch as the first axis. Heavy imports happen inside the constructors.
"""
