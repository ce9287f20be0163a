virsh vol-create-as diskgpt @LOOP_GPT@p2 20M
