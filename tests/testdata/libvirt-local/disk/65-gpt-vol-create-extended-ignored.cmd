virsh vol-create-as diskgpt @LOOP_GPT@p6 10M --format extended
