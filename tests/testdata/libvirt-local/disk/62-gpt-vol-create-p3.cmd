virsh vol-create-as diskgpt @LOOP_GPT@p3 30M
