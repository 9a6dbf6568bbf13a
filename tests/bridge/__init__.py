import warnings

# web3 7 imports websockets.legacy for a provider the bridge does not use; websockets 14+
# deprecates that module on import. Silence exactly that, before anything here imports web3.
warnings.filterwarnings("ignore", message="websockets.legacy is deprecated", category=DeprecationWarning)
