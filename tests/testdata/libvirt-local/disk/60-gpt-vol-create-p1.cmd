virsh vol-create-as diskgpt @LOOP_GPT@p1 10M
