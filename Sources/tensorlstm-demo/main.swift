print("demo: coming with the LSTM")
