// placeholder: safetensors
