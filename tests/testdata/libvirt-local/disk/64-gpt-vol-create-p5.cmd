virsh vol-create-as diskgpt @LOOP_GPT@p5 10M
