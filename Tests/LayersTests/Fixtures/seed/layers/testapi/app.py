print("testapi")
