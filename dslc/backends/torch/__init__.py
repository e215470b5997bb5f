"""The torch backend: DslcModule (one submodule per node), the modules torch.nn lacks, and
state_dict loading."""
