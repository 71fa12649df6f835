// placeholder: gguf
