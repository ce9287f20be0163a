virsh vol-create-as diskgpt @LOOP_GPT@p4 10M
