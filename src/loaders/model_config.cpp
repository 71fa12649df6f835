// placeholder: model_config
